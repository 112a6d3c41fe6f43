"""``glancevad annotate``: the glance annotation tool. Serve a video folder (the default command), ``annotate
export`` (accepted glances, or a team's consensus), ``annotate import``, ``annotate assign`` (work assignment)
and ``annotate agreement`` (how far annotators agree)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from glancevad.annotate.agreement import WITHIN_S
from glancevad.annotate.assign import RULES
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

@contextlib.contextmanager
def _store_kept_only_on_success(db: Path) -> Iterator:
    """The database at ``db``, opened (created if new); a database this command created is removed
    again when the command fails, so that a refused import or assignment leaves nothing behind."""
    from glancevad.annotate.store import GlanceStore

    created = not db.exists()
    store = GlanceStore(db)
    try:
        yield store
    except BaseException:
        if created:
            store.close()
            for suffix in ("", "-wal", "-shm", "-journal"):
                db.with_name(db.name + suffix).unlink(missing_ok=True)
        raise


#: ``annotate assign --rule``: the rules :data:`glancevad.annotate.assign.RULES` registers.
AssignRule = Enum("AssignRule", {name: name for name in RULES}, type=str)


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
        _report_scoring(scores, {v["id"]: v["frames"] for v in store.videos()})
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
    consensus: Annotated[int | None, typer.Option(min=1, help=(
        "Instead: one glance per event found by at least K annotators (every glance people clicked and did"
        " not delete, whatever the review decided, a reviewer's moves left out; glances within --within"
        " seconds chain into one event, whose glance is the median frame of its glances)."))] = None,
    within: Annotated[float | None, typer.Option(min=0, help=f"With --consensus only: seconds that chain glances"
                                                 f" into one event (default {WITHIN_S:g}).")] = None,
) -> None:
    """Export accepted glances as the official `video-id,glance` CSV (or, with --consensus K, a team's consensus)."""
    if within is not None and consensus is None:
        raise GlanceVADError("--within goes with --consensus K (the plain export writes the reviewed glances)")
    check_output(out, kind="file")
    if consensus is not None:
        return _export_consensus(out, db, consensus, WITHIN_S if within is None else within, include_proposed)
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
    skip_unknown: Annotated[bool, typer.Option(help="Leave out (and count) the CSV's videos that are not in the"
                                               " folder, instead of refusing the file.")] = False,
) -> None:
    """Import an existing glance CSV into the database (repeated imports add nothing twice).

    A model's proposals: `annotate import proposals.csv --videos DIR --status proposed --annotator model --model`.
    """
    from glancevad.annotate.team import import_glance_file
    from glancevad.glance import read_glances

    if model and status != "proposed":
        raise GlanceVADError("--model glances are imported with --status proposed (a reviewer accepts them)")
    glances = read_glances(csv_path)
    with _store_kept_only_on_success(db) as store:
        result = import_glance_file(store, glances, csv_path, videos, annotator=annotator, status=status, model=model,
                                    skip_unknown=skip_unknown)
    if result.skipped_videos:
        shown = ", ".join(result.skipped_videos[:5]) + (f" and {len(result.skipped_videos) - 5} more"
                                                         if len(result.skipped_videos) > 5 else "")
        console.print(f"skipped {result.skipped_glances} glances of {len(result.skipped_videos)} video(s) not in"
                      f" {videos}: {shown}")
    console.print(f"imported {result.added} glances of {result.videos} videos from {csv_path} into [bold]{db}[/]")


@annotate_app.command("assign")
def annotate_assign(
    to: Annotated[list[str], typer.Option("--to", help="Annotator the videos go to (repeatable).")],
    db: Annotated[Path, typer.Option(help="SQLite database of glancevad annotate.")] = Path("glances.sqlite"),
    video: Annotated[list[str] | None, typer.Option(
        "--video", help="A video id to assign (repeatable; default: every video the database knows).")] = None,
    video_list: Annotated[Path | None, typer.Option(
        "--list", help="A text file of video ids to assign, one per line (# comments; it must name at least"
                       " one).")] = None,
    rule: Annotated[AssignRule, typer.Option(
        help="everyone: each video to each annotator named; round-robin: the videos dealt out in turn,"
             " --per-video annotators each.")] = AssignRule("everyone"),
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
    from glancevad.annotate.assign import read_video_list
    from glancevad.annotate.library import scan_videos
    from glancevad.annotate.team import assign_videos

    if videos is None and not db.is_file():
        raise GlanceVADError(f"{db}: database not found (give --videos DIR to scan a folder into it)")
    wanted = list(video or [])
    if video_list is not None:
        wanted += read_video_list(video_list)
    with _store_kept_only_on_success(db) as store:
        if videos is not None:
            scan_videos(videos, store)
            if not wanted and not store.videos():
                raise GlanceVADError(f"{videos}: no videos found")
        added, ids, queues = assign_videos(store, to, rule=rule.value, per_video=per_video, videos=wanted,
                                           replace=replace)
    for name in to:
        console.print(f"{name}: {len(queues.get(name, []))} video(s) in their queue", highlight=False)
    console.print(f"stored {added} new assignment(s) of {len(ids)} video(s) in [bold]{db}[/]")


# -- agreement and consensus ---------------------------------------------------------------------


def _percent(value: float) -> str:
    return "-" if value != value else f"{100 * value:.1f}"


@annotate_app.command("agreement")
def annotate_agreement(
    db: Annotated[Path, typer.Option(help="SQLite database of glancevad annotate.")] = Path("glances.sqlite"),
    ground_truth: Annotated[Path | None, typer.Option(
        help="Temporal ground truth: the official GT JSON or a temporal annotation file (UCF / XD format);"
             " adds how often two annotators' glances fall in the same event.")] = None,
    within: Annotated[float, typer.Option(min=0, help="Seconds: two annotators' glances this close are matched"
                                          " (one event) for the matched rate and distances.")] = WITHIN_S,
    out: Annotated[Path | None, typer.Option(
        help="Folder for agreement.png and agreement.json (default: DB's name + -agreement, beside it).")] = None,
) -> None:
    """How far annotators agree, on the videos two or more of them took part in: per pair and overall.

    With --ground-truth: the same-event rate (events both found / events either found). Always: the
    matched rate (glances matched one to one within --within seconds, 2 x matched / all glances),
    the median distance of matched glances, and how often both gave the same number of glances.
    """
    from rich.table import Table

    from glancevad.annotate.team import open_team, team_agreement
    from glancevad.data.groundtruth import read_events
    from glancevad.plots import plot_agreement

    team, fps = open_team(db)
    out = out if out is not None else db.parent / f"{db.stem}-agreement"
    check_output(out, kind="folder")
    events = read_events(ground_truth) if ground_truth is not None else None
    report = team_agreement(team, fps, within_s=within, events=events, where=str(db))
    pairs, overall, truth = report.pairs, report.overall, report.truth
    table = Table(title=f"agreement on {len(report.videos)} videos of {db}"
                  + (f" (ground truth {ground_truth})" if events is not None else ""))
    for column in ("pair", "videos", "glances", *(("same event %", "events") if truth else ()), "matched %",
                   "median dist (s)", "same count %"):
        table.add_column(column, justify="left" if column == "pair" else "right")
    for pair in [*pairs, overall]:
        same_event = (_percent(pair.same_event_rate), f"{pair.shared_events}/{pair.either_events}") if truth else ()
        table.add_row(f"{pair.first} – {pair.second}" if pair is not overall else "all pairs", str(pair.videos),
                      str(pair.glances), *same_event, _percent(pair.matched_rate),
                      "-" if not pair.distances_s else f"{pair.median_distance_s:.2f}", _percent(pair.count_rate),
                      end_section=pair is pairs[-1])
    console.print(table)
    if events is not None and not truth:
        err_console.print(f"[yellow]note:[/] none of the compared videos is in {ground_truth}", highlight=False)
    annotators = sorted({name for pair in pairs for name in (pair.first, pair.second)})
    out.mkdir(parents=True, exist_ok=True)
    png = plot_agreement(out / "agreement.png", annotators, report.rates(), overall.distances_s,
                         measure=report.measure, within_s=within)
    written = report.write(out / "agreement.json", database=str(db),
                           ground_truth=None if ground_truth is None else str(ground_truth), within_s=within)
    console.print(f"wrote [bold]{png}[/] and [bold]{written}[/]")


def _export_consensus(out: Path, db: Path, k: int, within: float, include_proposed: bool) -> None:
    """``annotate export --consensus K``: the events K or more annotators found, one glance each."""
    from glancevad.annotate.team import consensus, open_team
    from glancevad.glance import write_glances

    if include_proposed:
        raise GlanceVADError("--consensus counts every glance not rejected already; drop --include-proposed")
    team, fps = open_team(db)
    glances = consensus(team, fps, k=k, within_s=within, where=str(db))
    write_glances(out, glances)
    console.print(f"wrote {sum(map(len, glances.values()))} consensus glances (events found by at least {k}"
                  f" annotators, each at the median frame of its glances) of {len(glances)} videos to [bold]{out}[/]")


# -- model assistance and import: what the user is told ----------------------------------------


def _report_scoring(scores, frames: dict[str, int]) -> None:
    """Say which crops extraction uses and every video whose features will not be scored, before serving."""
    trained = scores.inferencer.loaded.crops
    if scores.extraction_crops is not None and scores.extraction_crops != trained:
        console.print(f"videos without features are extracted with {scores.extraction_crops} crops"
                      f" (the network was trained on {trained if trained else 'an unknown number of'} crops;"
                      " I3D makes 1, 5 or 10 and the network averages over them)")
    for problem in scores.check_videos(frames):
        err_console.print(f"[yellow]features:[/] {problem}", highlight=False)
