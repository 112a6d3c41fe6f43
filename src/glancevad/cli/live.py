"""``glancevad watch`` and ``export``: live detection on a stream, and the networks for use without glancevad."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from glancevad.cli.app import app
from glancevad.cli.common import (
    DeviceOpt,
    MergeGapOpt,
    MinEventOpt,
    Precision,
    PrecisionOpt,
    ThresholdOpt,
    WeightsOpt,
    seconds,
)
from glancevad.console import console, err_console
from glancevad.errors import GlanceVADError
from glancevad.events import DEFAULTS
from glancevad.watch.sinks import sinks_help


@app.command()
def watch(
    sources: Annotated[list[str] | None, typer.Argument(
        help="Video files, growing files (--follow), URLs (rtsp://, http://) or capture devices (/dev/video0); "
             "several are watched at once, each named by itself.", show_default=False)] = None,
    checkpoint: Annotated[Path, typer.Option(help="A trained glancevad checkpoint (1024-d I3D features).")] = ...,
    sources_file: Annotated[Path | None, typer.Option(
        "--sources", help="A cameras.yaml: 'streams:' a list of {name, source[, follow, realtime, input_format]}.")
    ] = None,
    window: Annotated[int, typer.Option(help="Snippets the network sees for each score (the newest last).")] = 32,
    lookahead: Annotated[int, typer.Option(help="Snippets each score waits for (adds latency; 0: none).")] = 0,
    threshold: ThresholdOpt = DEFAULTS.threshold,
    min_event: MinEventOpt = f"{DEFAULTS.min_event}s",
    merge_gap: MergeGapOpt = f"{DEFAULTS.merge_gap}s",
    crops: Annotated[int | None, typer.Option(
        help="1, 5 or 10 (default: the checkpoint's crops, rounded up to one of these).")] = None,
    precision: PrecisionOpt = Precision.fp32,
    device: DeviceOpt = "auto",
    weights: WeightsOpt = "rgb_scratch",
    realtime: Annotated[bool, typer.Option(help="Read files at their frame rate (default: as fast as possible).")] = (
        False),
    follow: Annotated[bool, typer.Option(help="The sources are live: wait for a file to grow, reconnect a "
                                              "stream that ends.")] = False,
    stall_timeout: Annotated[float, typer.Option(help="Seconds without data before a stall is reported.")] = 5.0,
    retries: Annotated[int, typer.Option(help="Failed attempts in a row before a source is given up.")] = 5,
    backoff: Annotated[float, typer.Option(help="First wait before a retry, in seconds (doubles, up to 30).")] = 1.0,
    input_format: Annotated[str | None, typer.Option(help="PyAV/FFmpeg input format (v4l2, mpegts ...).")] = None,
    alarms: Annotated[Path | None, typer.Option(help="Also append the JSON lines to this file (--sink jsonl=).")] = (
        None),
    webhook: Annotated[str | None, typer.Option(help="Also POST each record as JSON to this URL (--sink webhook=).")
                       ] = None,
    sink: Annotated[list[str] | None, typer.Option(
        help=f"Another alarm sink, KIND=TARGET (repeatable): {sinks_help()}.",
        show_default=False)] = None,
    metrics_port: Annotated[int | None, typer.Option(
        help="Serve Prometheus metrics (/metrics) and a health check (/healthz) on this port.")] = None,
    metrics_host: Annotated[str, typer.Option(help="The address --metrics-port listens on.")] = "127.0.0.1",
) -> None:
    """Score streams as they arrive; alarms as JSON lines on stdout (Ctrl+C ends with a summary).

    Each 16-frame snippet is scored from the last --window snippets of its stream; the snippets of
    all streams go through the networks together. An event raises a `start` alarm once it lasts
    --min-event and an `end` alarm when it is over; every record names its stream. Status goes to stderr.
    """
    from glancevad.events import EventSettings
    from glancevad.watch import SinkSet, WatchSettings, build_sink, read_sources, specs_from_arguments
    from glancevad.watch import watch as run_watch
    from glancevad.watch.sinks import JsonLinesSink, StdoutSink, WebhookSink

    specs = specs_from_arguments(sources or [])
    if sources_file is not None:
        specs = specs + read_sources(sources_file)
    if not specs:
        raise GlanceVADError("nothing to watch: give SOURCE arguments or --sources cameras.yaml")
    settings = WatchSettings(
        window=window, lookahead=lookahead, crops=crops, precision=precision.value, device=device,
        events=EventSettings(threshold=threshold, min_event=seconds(min_event, "--min-event"),
                             merge_gap=seconds(merge_gap, "--merge-gap")),
        weights=weights, realtime=realtime, follow=follow, stall_timeout=stall_timeout, retries=retries,
        backoff=backoff, input_format=input_format,
    )

    def status(kind: str, message: str) -> None:
        colour = "yellow" if kind in ("stall", "drop", "lost", "failed", "warning", "sink") else "cyan"
        err_console.print(f"[{colour}]{kind}:[/] {message}", highlight=False)

    chosen = [StdoutSink()] + ([JsonLinesSink(str(alarms))] if alarms else []) + (
        [WebhookSink(webhook)] if webhook else []) + [build_sink(text) for text in sink or []]
    sinks = SinkSet(chosen, on_failure=lambda name, why: status("sink", f"{name}: {why}"))
    server = None
    if metrics_port is not None:
        from glancevad.watch.metrics import MetricsServer, WatchCollector

        collector = WatchCollector(sinks)
        server = MetricsServer(collector, port=metrics_port, host=metrics_host)
        status("metrics", f"http://{metrics_host}:{server.port}/metrics and /healthz")
    try:
        summary = run_watch(specs, checkpoint, settings, sinks=sinks, on_status=status,
                            on_start=collector.attach if server else None,
                            heartbeat=server.heartbeat if server else None)
    finally:
        if server is not None:
            server.close()
    for part in summary.streams:
        err_console.print(
            f"{part.stream}: {part.ended}" + (f" ({part.error})" if part.error else "")
            + f": {part.media_s:.1f} s of media ({part.frames} frames, {part.snippets} snippets) "
            f"in {part.wall_s:.1f} s (real-time factor {part.realtime_factor or 0:.2f}); {part.alarms} alarm(s)"
            + (f", largest latency {part.max_latency_s:.2f} s" if part.max_latency_s is not None else "")
            + f"; {part.stalls} stall(s), {part.reconnects} reconnect(s)", highlight=False)
    err_console.print(
        f"{summary.ended}: {len(summary.streams)} stream(s), {summary.media_s:.1f} s of media "
        f"in {summary.wall_s:.1f} s (total real-time factor {summary.realtime_factor or 0:.2f}); "
        f"{summary.alarms} alarm(s); "
        f"{summary.sink_failures} record(s) not delivered", highlight=False)
    err_console.print("alarms and summary: " + ", ".join(s.name for s in chosen), highlight=False)
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
    crops: Annotated[int | None, typer.Option(
        help="Crops the exported scorer takes (default: what detect and watch extract for the checkpoint: "
             "its crops, rounded up to I3D's 1, 5 or 10).")] = None,
    weights: WeightsOpt = "rgb_scratch",
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
