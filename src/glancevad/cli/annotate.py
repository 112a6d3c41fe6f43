"""``glancevad annotate`` (serve), ``annotate export`` and ``annotate import``: the glance annotation tool."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glancevad.cli.app import app
from glancevad.console import console, err_console
from glancevad.errors import GlanceVADError
from glancevad.events import DEFAULTS
from glancevad.fileio import check_output

annotate_app = typer.Typer(
    help="The glance annotation tool: serve a video folder (default; only reviewers named with --reviewer"
    " accept or reject glances; with --checkpoint a model's score curve shows where to look), import or export"
    " glances, assign videos to annotators (annotate assign).",
)
app.add_typer(annotate_app, name="annotate")


@annotate_app.callback(invoke_without_command=True)
def annotate(
    ctx: typer.Context,
    videos: Annotated[Path | None, typer.Option(help="Folder of videos to annotate (searched recursively).")] = None,
    db: Annotated[Path, typer.Option(help="SQLite database: the store of record.")] = Path("glances.sqlite"),
    host: Annotated[str, typer.Option(help="Interface to bind; off loopback a token is required.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    token: Annotated[str | None, typer.Option(help="Access token (generated when binding off loopback).")] = None,
    duplicate_frames: Annotated[int, typer.Option(min=0, help="Review: glances this close are flagged.")] = 8,
    transcode: Annotated[bool, typer.Option(help="Make H.264 copies of videos a browser cannot play.")] = True,
    reviewer: Annotated[list[str] | None, typer.Option(
        help="Name allowed to accept/reject glances (repeatable; kept in the database).")] = None,
    checkpoint: Annotated[Path | None, typer.Option(
        help="A trained network (RUN/best.pt): its score curve on the timeline, jump-to-peak keys, videos"
             " ordered by likely unglanced anomaly.")] = None,
    features: Annotated[Path | None, typer.Option(
        help="With --checkpoint: feature files named by video id, e.g. an `extract` folder or a `detect`"
             " OUT/features (else I3D runs in the background; cached beside the database).")] = None,
    threshold: Annotated[float, typer.Option(min=0, max=1, help="With --checkpoint: score of a peak.")] = (
        DEFAULTS.threshold),
) -> None:
    """Serve the annotation page for a video folder: glance, review, export (`glancevad annotate --videos DIR`).

    Annotators propose glances; only reviewers (--reviewer NAME) accept or reject them. With
    --checkpoint the page draws the model's scores and the . and , keys jump to the next / previous
    peak that no glance is near.
    """
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from glancevad.annotate.library import scan_videos
    from glancevad.annotate.server import create_app, is_loopback, new_token
    from glancevad.annotate.store import GlanceStore

    if videos is None:
        raise GlanceVADError("--videos DIR is required to serve (or use: annotate export / annotate import)")
    if features is not None and checkpoint is None:
        raise GlanceVADError("--features needs --checkpoint")
    if token is None and not is_loopback(host):
        token = new_token()
    store = GlanceStore(db)
    for name in reviewer or []:
        store.add_annotator(name, reviewer=True)
    proxies = db.parent / f"{db.stem}-proxies" if transcode else None
    with console.status(f"probing videos in {videos} ...") as status:
        count, problems = scan_videos(videos, store, proxies=proxies,
                                      on_video=lambda vid, what: status.update(f"{vid}: {what} ..."))
    for problem in problems:
        err_console.print(f"[yellow]skipped:[/] {problem}", highlight=False)
    scores = None
    if checkpoint is not None:
        from glancevad.annotate.library import video_file
        from glancevad.assist.provider import ScoreProvider

        scores = ScoreProvider(checkpoint, features=features, cache=db.parent / f"{db.stem}-features",
                               video_path=lambda vid: video_file(videos, store, vid, None), threshold=threshold)
        scores.start([v["id"] for v in store.videos()])
        console.print(f"model scores from [bold]{checkpoint}[/]"
                      + (f" and features in [bold]{features}[/]" if features else "")
                      + f"; extracted features cached in [bold]{scores.cache}[/]")
    url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"{count} videos from [bold]{videos}[/]; glances stored in [bold]{db}[/]"
                  + (f"; browser copies in [bold]{proxies}[/]" if proxies and proxies.is_dir() else ""))
    reviewers = [r["name"] for r in store.roles() if r["reviewer"]]
    console.print("reviewers: " + (", ".join(reviewers) if reviewers else "none (add one with --reviewer NAME)"))
    console.print(f"open [bold]{url}[/]  (Ctrl+C stops; every action is already saved)")
    app_ = create_app(videos, store, token=token, duplicate_frames=duplicate_frames, proxies=proxies, host=host,
                      scores=scores)
    try:
        uvicorn.run(app_, host=host, port=port, log_level="warning")
    finally:
        if scores is not None:
            scores.stop()


@annotate_app.command("export")
def annotate_export(
    out: Annotated[Path, typer.Option(help="CSV to write (video-id,glance).")],
    db: Annotated[Path, typer.Option(help="SQLite database of glancevad annotate.")] = Path("glances.sqlite"),
    include_proposed: Annotated[bool, typer.Option(help="Also glances not yet reviewed (not rejected).")] = False,
) -> None:
    """Export accepted glances as the official `video-id,glance` CSV."""
    check_output(out, kind="file")
    from glancevad.annotate.store import GlanceStore
    from glancevad.glance import write_glances

    if not db.is_file():
        raise GlanceVADError(f"{db}: database not found")
    glances = GlanceStore(db).export_glances(include_proposed=include_proposed)
    write_glances(out, glances)
    console.print(f"wrote {sum(map(len, glances.values()))} glances of {len(glances)} videos to [bold]{out}[/]")


@annotate_app.command("import")
def annotate_import(
    csv_path: Annotated[Path, typer.Argument(help="An official glance CSV (video-id,glance).")],
    videos: Annotated[Path, typer.Option(help="The video folder the CSV's ids refer to.")],
    db: Annotated[Path, typer.Option(help="SQLite database of glancevad annotate.")] = Path("glances.sqlite"),
    annotator: Annotated[str, typer.Option(help="Name the imported glances are stored under.")] = "imported",
    status: Annotated[str, typer.Option(help="accepted (curated glances) or proposed (to be reviewed).")] = "accepted",
    model: Annotated[bool, typer.Option("--model", help="The glances are a network's (glancevad propose): stored as"
                                        " proposed and never exported until a reviewer accepts them.")] = False,
) -> None:
    """Import an existing glance CSV into the database (repeated imports add nothing twice).

    A model's proposals: `annotate import proposals.csv --videos DIR --status proposed --annotator model --model`.
    """
    from glancevad.annotate.library import scan_videos
    from glancevad.annotate.store import GlanceStore
    from glancevad.glance import read_glances

    if status not in ("accepted", "proposed"):
        raise GlanceVADError("--status must be accepted or proposed")
    glances = read_glances(csv_path)
    store = GlanceStore(db)
    scan_videos(videos, store)
    if model and status != "proposed":
        raise GlanceVADError("--model glances are imported with --status proposed (a reviewer accepts them)")
    added = store.import_glances({vid: list(frames) for vid, frames in glances.items()}, annotator, status=status,
                                 model=model)
    console.print(f"imported {added} glances of {len(glances)} videos from {csv_path} into [bold]{db}[/]")


@annotate_app.command("assign")
def annotate_assign(
    to: Annotated[list[str], typer.Option("--to", help="Annotator the videos go to (repeatable).")],
    db: Annotated[Path, typer.Option(help="SQLite database of glancevad annotate.")] = Path("glances.sqlite"),
    video: Annotated[list[str] | None, typer.Option(
        "--video", help="A video id to assign (repeatable; default: every video the database knows).")] = None,
    video_list: Annotated[Path | None, typer.Option(
        "--list", help="A text file of video ids to assign, one per line (# comments).")] = None,
    rule: Annotated[str, typer.Option(
        help="everyone: each video to each annotator named; round-robin: the videos dealt out in turn,"
             " --per-video annotators each.")] = "everyone",
    per_video: Annotated[int, typer.Option(
        min=1, help="round-robin: annotators per video (2 or more: overlap, for agreement).")] = 1,
    replace: Annotated[bool, typer.Option(help="Drop the named annotators' earlier assignments first.")] = False,
    videos: Annotated[Path | None, typer.Option(
        help="Video folder to scan first (when the database does not know its videos yet).")] = None,
) -> None:
    """Assign videos to annotators: each annotator's page then lists their queue and "n of N done".

    `annotate assign --to ann --to bob --to cai --rule round-robin --per-video 2` gives every video to
    two of the three, loads balanced; `annotate assign --to dee --video v1 --video v7` two videos to dee.
    """
    from glancevad.annotate.assign import assign
    from glancevad.annotate.library import scan_videos
    from glancevad.annotate.store import GlanceStore

    if videos is None and not db.is_file():
        raise GlanceVADError(f"{db}: database not found (give --videos DIR to scan a folder into it)")
    wanted = list(video or [])
    if video_list is not None:
        if not video_list.is_file():
            raise GlanceVADError(f"{video_list}: video list not found")
        wanted += [line.strip() for line in video_list.read_text(encoding="utf-8").splitlines()
                   if line.strip() and not line.lstrip().startswith("#")]
    store = GlanceStore(db)
    if videos is not None:
        scan_videos(videos, store)
    ids = wanted or [v["id"] for v in store.videos()]
    if not ids:
        raise GlanceVADError(f"{db}: no videos to assign (give --videos DIR to scan a folder into it)")
    assignment = assign(rule, ids, to, per_video=per_video)
    added = store.assign(assignment, replace=replace)
    queues = store.assignments()
    for name in to:
        console.print(f"{name}: {len(queues.get(name, []))} video(s) in their queue", highlight=False)
    console.print(f"stored {added} new assignment(s) of {len(ids)} video(s) in [bold]{db}[/]")
