"""``glancevad watch`` and ``export``: live detection on a stream, and the networks for use without glancevad."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from glancevad.cli.app import app
from glancevad.cli.common import Precision, seconds
from glancevad.console import console, err_console


@app.command()
def watch(
    source: Annotated[str, typer.Argument(help="A video file, a growing file (--follow), a URL (rtsp://, http://) "
                                               "or a capture device (/dev/video0).")],
    checkpoint: Annotated[Path, typer.Option(help="A trained glancevad checkpoint (1024-d I3D features).")] = ...,
    window: Annotated[int, typer.Option(help="Snippets the network sees for each score (the newest last).")] = 32,
    lookahead: Annotated[int, typer.Option(help="Snippets each score waits for (adds latency; 0: none).")] = 0,
    threshold: Annotated[float, typer.Option(help="Score at or above which a frame is anomalous.")] = 0.5,
    min_event: Annotated[str, typer.Option(help="An event raises an alarm once it lasts this long, e.g. 1.0s.")] = (
        "1.0s"),
    merge_gap: Annotated[str, typer.Option(help="Events closer than this are one, e.g. 2.0s.")] = "2.0s",
    crops: Annotated[int | None, typer.Option(help="1, 5 or 10 (default: the checkpoint's).")] = None,
    precision: Annotated[Precision, typer.Option(help="fp32 or bf16 (I3D and the network).")] = Precision.fp32,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
    weights: Annotated[str, typer.Option(help="rgb_scratch (bundled) or a PyTorch I3D state dict.")] = "rgb_scratch",
    realtime: Annotated[bool, typer.Option(help="Read a file at its frame rate (default: as fast as possible).")] = (
        False),
    follow: Annotated[bool, typer.Option(help="The source is live: wait for a file to grow, reconnect a "
                                              "stream that ends.")] = False,
    stall_timeout: Annotated[float, typer.Option(help="Seconds without data before a stall is reported.")] = 5.0,
    retries: Annotated[int, typer.Option(help="Failed attempts in a row before the source is given up.")] = 5,
    backoff: Annotated[float, typer.Option(help="First wait before a retry, in seconds (doubles, up to 30).")] = 1.0,
    input_format: Annotated[str | None, typer.Option(help="PyAV/FFmpeg input format (v4l2, mpegts ...).")] = None,
    alarms: Annotated[Path | None, typer.Option(help="Also append the JSON lines to this file.")] = None,
    webhook: Annotated[str | None, typer.Option(help="Also POST each alarm as JSON to this URL.")] = None,
) -> None:
    """Score a stream as it arrives; alarms as JSON lines on stdout (Ctrl+C ends with a summary).

    Each 16-frame snippet is scored from the last --window snippets; an event raises a `start`
    alarm once it lasts --min-event and an `end` alarm when it is over. Status goes to stderr.
    """
    from glancevad.watch import AlarmSinks, WatchSettings
    from glancevad.watch import watch as run_watch

    settings = WatchSettings(
        window=window, lookahead=lookahead, threshold=threshold, min_event=seconds(min_event, "--min-event"),
        merge_gap=seconds(merge_gap, "--merge-gap"), crops=crops, precision=precision.value, device=device,
        weights=weights, realtime=realtime, follow=follow, stall_timeout=stall_timeout, retries=retries,
        backoff=backoff, input_format=input_format,
    )

    def status(kind: str, message: str) -> None:
        colour = "yellow" if kind in ("stall", "drop", "lost", "warning", "webhook") else "cyan"
        err_console.print(f"[{colour}]{kind}:[/] {message}", highlight=False)

    sinks = AlarmSinks(sys.stdout, alarms, webhook, on_status=status)
    summary = run_watch(source, checkpoint, settings, sinks=sinks, on_status=status)
    err_console.print(
        f"{summary.ended}: {summary.media_s:.1f} s of media ({summary.frames} frames, {summary.snippets} snippets) "
        f"in {summary.wall_s:.1f} s (real-time factor {summary.realtime_factor or 0:.2f}); {summary.alarms} alarm(s)"
        + (f", largest latency {summary.max_latency_s:.2f} s" if summary.max_latency_s is not None else "")
        + f"; {summary.stalls} stall(s), {summary.reconnects} reconnect(s)", highlight=False)
    err_console.print("alarms and summary: stdout" + (f", [bold]{alarms}[/]" if alarms else "")
                      + (f", {webhook}" if webhook else ""), highlight=False)
    if summary.ended == "source lost":
        raise typer.Exit(1)


class ExportFormat(str, Enum):
    torchscript = "torchscript"
    onnx = "onnx"


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Option(help="A trained glancevad checkpoint.")],
    format: Annotated[ExportFormat, typer.Option(help="torchscript, or onnx (the onnx extra).")] = (
        ExportFormat.torchscript),
    out: Annotated[Path | None, typer.Option(help="Folder to write (default runs/export/<checkpoint stem>).")] = None,
    with_i3d: Annotated[bool, typer.Option(help="Also export the I3D feature extractor.")] = False,
    crops: Annotated[int | None, typer.Option(help="Crops of the traced example (default: the checkpoint's).")] = None,
    weights: Annotated[str, typer.Option(help="I3D weights: rgb_scratch (bundled) or a state dict.")] = "rgb_scratch",
) -> None:
    """Write the scoring network (and with --with-i3d the feature extractor) for use without glancevad.

    Every file is checked against glancevad's own outputs (to 1e-5) before the command returns.
    """
    from glancevad.export import export_checkpoint

    out = out or Path("runs") / "export" / checkpoint.stem
    with console.status(f"exporting {checkpoint} as {format.value} ..."):
        manifest = export_checkpoint(checkpoint, out, fmt=format.value, with_i3d=with_i3d, crops=crops,
                                     weights=weights)
    for part, entry in manifest["files"].items():
        console.print(f"{part}: {entry['input']} -> {entry['output']}; largest difference from glancevad "
                      f"{entry['max_abs_difference']:.1e}", highlight=False)
    console.print("wrote " + ", ".join(f"[bold]{p}[/]" for p in manifest["paths"]))
