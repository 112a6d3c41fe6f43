"""``glancevad extract`` (and ``extract merge``) and ``detect``: from raw video to features and detections."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from glancevad.cli.app import app
from glancevad.cli.common import (
    BatchOpt,
    CropNaming,
    DefaultCommandGroup,
    DeviceOpt,
    MergeGapOpt,
    MinEventOpt,
    Precision,
    PrecisionOpt,
    ThresholdOpt,
    WeightsOpt,
    seconds,
)
from glancevad.console import console, err_console, progress_bar
from glancevad.constants import FRAMES_PER_SNIPPET
from glancevad.errors import GlanceVADError
from glancevad.events import DEFAULTS
from glancevad.fileio import check_output

extract_app = typer.Typer(cls=DefaultCommandGroup, help="Extract I3D features (default command: run), or merge shards.")
app.add_typer(extract_app, name="extract")


@extract_app.command("run")
def extract(
    videos: Annotated[list[Path] | None, typer.Argument(help="Video files or folders.")] = None,
    out: Annotated[Path | None, typer.Option(help="Feature folder to write.")] = None,
    list_file: Annotated[Path | None, typer.Option("--list", help="A file of video paths, one per line.")] = None,
    root: Annotated[str | None, typer.Option(help="Base of relative paths in --list (default: its folder).")] = None,
    crops: Annotated[int, typer.Option(help="1 (centre), 5 (corners + centre) or 10 (those + flips).")] = 10,
    layout: Annotated[CropNaming, typer.Option(help="glancevad (vid, vid__1..), indexed (vid__0..), stacked.")] = (
        CropNaming.glancevad
    ),
    stack: Annotated[int, typer.Option(help="Frames per snippet.")] = FRAMES_PER_SNIPPET,
    step: Annotated[int, typer.Option(help="Frames between snippet starts.")] = FRAMES_PER_SNIPPET,
    fps: Annotated[float | None, typer.Option(help="Resample to this frame rate (default: native).")] = None,
    weights: WeightsOpt = "rgb_scratch",
    device: DeviceOpt = "auto",
    batch: BatchOpt = 1,
    precision: PrecisionOpt = Precision.fp32,
    shard: Annotated[str | None, typer.Option(help="i/N: this process's share (default: RANK/WORLD_SIZE).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an extraction in --out, skipping finished videos.")] = False,
) -> None:
    """Extract 1024-d I3D snippet features (Mixed_5c, 16-frame snippets) into the official layout.

    Broken videos are recorded in the folder's manifest and skipped.

    `glancevad extract merge OUT` checks a folder written by --shard processes: every video once.
    """
    from glancevad.features.extract import ExtractionSettings, Shard, SnippetExtractor, extract_videos, video_list
    from glancevad.features.weights import load_i3d
    from glancevad.runtime import resolve_device

    if out is None:
        raise GlanceVADError("--out is required")
    check_output(out, kind="folder")
    this_shard = Shard.parse(shard)
    settings = ExtractionSettings(crops=crops, stack=stack, step=step, fps=fps, weights=weights)
    todo = video_list(videos or [], list_file, root)
    extractor = SnippetExtractor(load_i3d(weights), settings, device=resolve_device(device),
                                 precision=precision.value, batch=batch)
    failed: list[str] = []
    with progress_bar(unit="snippets", info=True) as bar:
        task = bar.add_task("extracting", total=None, info="")

        def started(pending: list, snippets: int) -> None:
            bar.update(task, total=snippets, info=f"{len(pending)} videos to do")

        def finished(vid: str, status: str) -> None:
            if status != "done":
                failed.append(vid)
            bar.update(task, info=f"{vid}: {status}")

        manifest = extract_videos(todo, out, extractor, layout=layout.value, shard=this_shard, resume=resume,
                                  on_start=started, on_snippet=lambda: bar.advance(task), on_video=finished)
    for vid in failed:
        err_console.print(f"[yellow]failed:[/] {vid}: {manifest['videos'][vid]['error']}", highlight=False)
    done = sum(entry["status"] == "done" for entry in manifest["videos"].values())
    console.print(f"wrote features of {done} videos to [bold]{out}[/] ({layout.value} layout, {crops} crops); "
                  f"{len(failed)} failed; manifest [bold]{out / this_shard.manifest_name}[/]")
    if failed:
        raise typer.Exit(1)


@extract_app.command("merge")
def extract_merge(
    out: Annotated[Path, typer.Argument(help="The feature folder that --shard i/N processes wrote.")],
) -> None:
    """Check a folder written by sharded extraction (every video once, same settings) and merge its manifests."""
    from glancevad.features.extract import merge_manifests

    report = merge_manifests(out)
    console.print(f"{report['done']} videos extracted once each in [bold]{out}[/] "
                  f"({report['shards']} shard manifest(s)); merged manifest [bold]{report['path']}[/]")
    for vid, error in report["failed"].items():
        err_console.print(f"[yellow]failed:[/] {vid}: {error}", highlight=False)
    if report["failed"]:
        raise GlanceVADError(f"{len(report['failed'])} video(s) failed; see {report['path']}")


@app.command()
def detect(
    video: Annotated[Path | None, typer.Argument(help="The video to analyse.")] = None,
    checkpoint: Annotated[Path, typer.Option(help="A trained glancevad checkpoint (1024-d I3D features).")] = ...,
    features: Annotated[Path | None, typer.Option(
        help="[T, crops, D] features to use instead of extracting (an earlier detect's OUT/features/ID.npy)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default runs/detect/<video id>).")] = None,
    threshold: ThresholdOpt = DEFAULTS.threshold,
    min_event: MinEventOpt = f"{DEFAULTS.min_event}s",
    merge_gap: MergeGapOpt = f"{DEFAULTS.merge_gap}s",
    overlay: Annotated[Path | None, typer.Option(help="Also write the video with its score drawn on (.mp4).")] = None,
    fps: Annotated[float | None, typer.Option(help="Frame rate for times (default: the video's, else 30).")] = None,
    crops: Annotated[int | None, typer.Option(
        help="Crops to extract: 1, 5 or 10 (default: the checkpoint's crops, rounded up to one of these).")] = None,
    weights: WeightsOpt = "rgb_scratch",
    device: DeviceOpt = "auto",
    batch: BatchOpt = 1,
    precision: PrecisionOpt = Precision.fp32,
    causal: Annotated[bool, typer.Option(help="Score as `watch` does: each snippet from the last --window.")] = False,
    window: Annotated[int, typer.Option(help="--causal: snippets the network sees (the scored one last).")] = 32,
    lookahead: Annotated[int, typer.Option(help="--causal: snippets each score waits for (0: none).")] = 0,
) -> None:
    """Score a new video with a trained model: per-frame scores, events (JSON, CSV) and a PNG."""
    from glancevad.detect import run_detection
    from glancevad.features.extract import check_crops

    if video is None and features is None:
        raise GlanceVADError("give a VIDEO, or --features F.npy")
    if crops is not None:
        check_crops(crops)
        if features is not None:
            raise GlanceVADError("--crops says how to extract features; --features are extracted already")
    with progress_bar(unit="snippets") if features is None else contextlib.nullcontext() as bar:
        task = bar.add_task("extracting", total=None) if bar is not None else None
        result = run_detection(
            video, checkpoint, features=features, out=out, threshold=threshold,
            min_event=seconds(min_event, "--min-event"), merge_gap=seconds(merge_gap, "--merge-gap"),
            overlay=overlay, fps=fps, crops=crops, weights=weights,
            device=device, precision=precision.value, batch=batch,
            window=window if causal else None, lookahead=lookahead,
            on_start=(lambda total: bar.update(task, total=total)) if bar is not None else None,
            on_snippet=(lambda: bar.advance(task)) if bar is not None else None,
        )
    for event in result["events"]:
        console.print(f"event {event.start_s:8.2f}s – {event.end_s:8.2f}s  frames {event.start_frame}–{event.end_frame}"
                      f"  peak {event.peak_score:.3f}")
    console.print(f"{len(result['events'])} event(s); wrote " + ", ".join(f"[bold]{p}[/]" for p in result["paths"]))
