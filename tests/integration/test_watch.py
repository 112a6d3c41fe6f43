"""``glancevad watch`` on local sources with a known event: a live HTTP stream, a growing file, a
stalling server, Ctrl+C; and ``detect --causal`` / ``test --window``, which score files the same way.

The detector is a MIL network whose weights are set by hand from the I3D features of the test
video (real I3D, real PyAV): it scores a snippet ~1 when its features look like the event's and
~0 otherwise, so the event and the alarm are known in advance.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import av
import numpy as np
import pytest
import torch

from cli_helpers import assert_user_error, free_port, run
from glancevad.engine.checkpoint import save_checkpoint
from glancevad.events import find_events, frame_scores
from glancevad.features.extract import ExtractionSettings, SnippetExtractor
from glancevad.features.weights import load_i3d
from glancevad.models import build
from media import encode_frames, event_frames
from streams import LocalServer

FPS = 25
FRAMES = 160                 # 10 snippets, 6.4 s
EVENT = (64, 128)            # snippets 4-7: 2.56 s - 5.12 s
MIN_EVENT = 0.5


def _watch(*args) -> list[str]:
    return [sys.executable, "-m", "glancevad", "watch", *map(str, args)]


def _env() -> dict:
    import os

    return {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "GLANCEVAD_CACHE": os.environ["GLANCEVAD_CACHE"]}


@pytest.fixture(scope="module")
def event_video(tmp_path_factory):
    """The test video (MPEG-TS), its frames, its I3D features (1 crop) and a checkpoint that detects its event."""
    folder = tmp_path_factory.mktemp("watch")
    frames = event_frames(FRAMES, EVENT, seed=0)
    path = folder / "event.ts"
    encode_frames(frames, str(path), fps=FPS)
    features = SnippetExtractor(load_i3d(), ExtractionSettings(crops=1)).video(path)
    x = features[:, 0].astype(np.float64)
    first = np.arange(len(x)) * 16   # each snippet's first frame
    event = (first >= EVENT[0]) & (first < EVENT[1])
    normal, u = x[~event][1:].mean(0), x[event].mean(0) - x[~event][1:].mean(0)
    scale = 12.0
    state = {k: torch.zeros_like(v) for k, v in build("mil", in_dim=1024).state_dict().items()}
    w, b = torch.from_numpy(scale * u / (u @ u)).float(), float(-scale * (normal @ u / (u @ u) + 0.5))
    state["encoder.0.weight"][0, :, 1], state["encoder.0.bias"][0] = w, b      # centre taps only:
    state["encoder.0.weight"][1, :, 1], state["encoder.0.bias"][1] = -w, -b    # a receptive field of 1
    state["head.0.weight"][0, 0, 1] = state["head.0.weight"][1, 1, 1] = 1
    state["head.3.weight"][0, 0, 0], state["head.3.weight"][0, 1, 0] = 1, -1
    checkpoint = folder / "probe.pt"
    save_checkpoint(checkpoint, {"model_name": "mil", "model_kwargs": {"in_dim": 1024}, "model_state": state,
                                 "crops": 1})
    np.save(folder / "event.features.npy", features)
    return {"path": path, "frames": frames, "features": folder / "event.features.npy", "checkpoint": checkpoint}


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_probe_checkpoint_scores_the_event(event_video):
    model = build("mil", in_dim=1024)
    model.load_state_dict(torch.load(event_video["checkpoint"], weights_only=True)["model_state"])
    features = np.load(event_video["features"])
    with torch.no_grad():
        scores = model.eval()(torch.from_numpy(features.transpose(1, 0, 2))[None])[0].numpy()
    assert (scores[4:8] > 0.9).all() and (scores[1:4] < 0.1).all() and (scores[8:] < 0.1).all()


def test_live_http_stream_raises_the_alarm_in_time(event_video, tmp_path):
    alarms = tmp_path / "alarms.jsonl"
    with LocalServer(event_video["frames"], fps=FPS) as server:
        proc = subprocess.Popen(
            _watch(f"{server.url}/live.ts", "--checkpoint", event_video["checkpoint"], "--window", 4,
                   "--min-event", f"{MIN_EVENT}s", "--merge-gap", "0.5s", "--alarms", alarms,
                   "--webhook", f"{server.url}/hook", "--stall-timeout", 10),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        received = {}
        for line in proc.stdout:
            record = json.loads(line)
            received.setdefault(record.get("phase", record["kind"]), (time.time(), record))
        stderr = proc.stderr.read()
        assert proc.wait(timeout=60) == 0, stderr
        posts = list(server.posts)
    start_time, start = received["start"]
    _, end = received["end"]
    _, summary = received["summary"]
    assert (start["start_frame"], end["start_frame"], end["end_frame"]) == (64, 64, 127)
    assert start["start_s"] == 2.56 and end["end_s"] == 5.12 and end["peak_score"] > 0.9
    # causal: the alarm comes after the server sent the event's first frame, never before. How soon
    # after is a speed figure, measured against the documented bound by `make bench` (bench_live).
    assert start_time > server.live_started[0] + EVENT[0] / FPS
    assert start["latency_s"] > 0
    assert summary["frames"] == FRAMES and summary["alarms"] == 1 and summary["ended"] == "end of stream"
    assert summary["stalls"] == 0 and summary["sink_failures"] == 0
    assert start["stream"] == end["stream"] == summary["streams"][0]["stream"] == f"{server.url}/live.ts"
    written = _lines(alarms.read_text())
    kinds = ["start", "end", "stream_summary", "summary"]
    assert [r.get("phase", r["kind"]) for r in written] == kinds
    assert [r.get("phase", r["kind"]) for r in posts] == kinds
    assert posts[1]["end_frame"] == 127
    assert str(alarms) in stderr and "real-time factor" in stderr


def test_growing_file_is_followed_and_a_stall_reported(event_video, tmp_path):
    path = tmp_path / "growing.ts"
    handle = open(path, "wb")  # noqa: SIM115 - the writer below owns it
    container = av.open(handle, mode="w", format="mpegts")
    stream = container.add_stream("mpeg4", rate=FPS)
    stream.width, stream.height = 320, 240
    stream.pix_fmt = "yuv420p"

    def write(frames):
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        handle.flush()

    write(event_video["frames"][:100])
    proc = subprocess.Popen(
        _watch(path, "--follow", "--checkpoint", event_video["checkpoint"], "--window", 8, "--min-event",
               f"{MIN_EVENT}s", "--merge-gap", "0.5s", "--stall-timeout", 1, "--retries", 2, "--backoff", 0.5),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    seen = []
    for line in proc.stderr:          # the file stops growing: the watcher reports it and waits
        seen.append(line)
        if line.startswith("stall:"):
            break
    writer = threading.Thread(target=lambda: (write(event_video["frames"][100:]), _close(container, stream, handle)))
    writer.start()
    stdout, stderr = proc.communicate(timeout=120)
    writer.join()
    assert proc.returncode == 0, "".join(seen) + stderr
    assert "stall: no new data for 1 s; waiting 0.5 s (attempt 1 of 2)" in "".join(seen)
    records = _lines(stdout)
    summary = records[-1]
    assert summary["kind"] == "summary" and summary["frames"] == FRAMES and summary["stalls"] >= 2
    # the events are those of offline detection of the finished file with the same settings
    scores = frame_scores(_offline_scores(event_video), FRAMES)
    expected = find_events(scores, FPS, threshold=0.5, min_event=MIN_EVENT, merge_gap=0.5)
    assert [(e["start_frame"], e["end_frame"]) for e in summary["streams"][0]["events"]] == [
        (e.start_frame, e.end_frame) for e in expected] == [(64, 127)]


def _close(container, stream, handle) -> None:
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    handle.close()


def _offline_scores(event_video) -> np.ndarray:
    model = build("mil", in_dim=1024)
    model.load_state_dict(torch.load(event_video["checkpoint"], weights_only=True)["model_state"])
    with torch.no_grad():
        return model.eval()(torch.from_numpy(np.load(event_video["features"]).transpose(1, 0, 2))[None])[0].numpy()


def test_stalled_server_is_reported_retried_and_given_up(event_video, tmp_path):
    data = event_video["path"].read_bytes()
    with LocalServer(stall_data=data, stall_bytes=len(data) // 3) as server:
        proc = run("watch", f"{server.url}/stall.ts", "--checkpoint", event_video["checkpoint"], "--stall-timeout", 1,
                   "--retries", 2, "--backoff", 0.2, check=False, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "stall:" in proc.stderr and "retrying in 0.2 s (attempt 1 of 2)" in proc.stderr
    assert "gave up after 2 retries" in proc.stderr and "source lost" in proc.stderr
    summary = _lines(proc.stdout)[-1]
    assert summary["kind"] == "summary" and summary["ended"] == "source lost" and summary["stalls"] >= 1
    assert 0 < summary["frames"] < FRAMES


def test_ctrl_c_ends_cleanly_with_a_summary(event_video):
    proc = subprocess.Popen(_watch(event_video["path"], "--realtime", "--checkpoint", event_video["checkpoint"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    for line in proc.stderr:
        if line.startswith("open:"):
            break
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "interrupted (Ctrl+C)" in stderr
    summary = _lines(stdout)[-1]
    assert summary["kind"] == "summary" and summary["ended"] == "interrupted (Ctrl+C)"
    assert 0 < summary["frames"] < FRAMES


def test_watch_user_errors(event_video, tmp_path):
    ckpt = event_video["checkpoint"]
    assert_user_error(run("watch", tmp_path / "missing.mp4", "--checkpoint", ckpt, check=False),
                      "missing.mp4: no such file, URL or capture device")
    assert_user_error(run("watch", event_video["path"], "--checkpoint", ckpt, "--window", 0, check=False),
                      "--window must be at least 1")
    assert_user_error(run("watch", event_video["path"], "--checkpoint", ckpt, "--window", 4, "--lookahead", 4,
                          check=False), "--lookahead must be between 0 and window - 1 = 3")
    small = tmp_path / "small.pt"
    save_checkpoint(small, {"model_name": "mil", "model_kwargs": {"in_dim": 32},
                            "model_state": build("mil", in_dim=32).state_dict(), "crops": 1})
    assert_user_error(run("watch", event_video["path"], "--checkpoint", small, check=False),
                      "takes 32-d features but I3D gives 1024-d")
    assert_user_error(run("watch", event_video["path"], "--checkpoint", ckpt, "--webhook", "ftp://x", check=False),
                      "--webhook must be an http:// or https:// URL")
    assert_user_error(run("watch", "--checkpoint", ckpt, check=False), "nothing to watch")
    assert_user_error(run("watch", event_video["path"], "--checkpoint", ckpt, "--sink", "kafka=x", check=False),
                      "unknown kind 'kafka'; choose from stdout, jsonl, webhook, mqtt")
    assert_user_error(run("watch", event_video["path"], event_video["path"], "--checkpoint", ckpt, check=False),
                      "two streams are named")
    (tmp_path / "cameras.yaml").write_text("streams: [{name: a}]\n")
    assert_user_error(run("watch", "--sources", tmp_path / "cameras.yaml", "--checkpoint", ckpt, check=False),
                      "cameras.yaml: streams[0]: 'source' must be a non-empty string")
    assert_user_error(run("watch", f"http://127.0.0.1:{free_port()}/none.ts", "--checkpoint", ckpt, "--retries", 1,
                          "--backoff", 0.1, check=False), "cannot open", "gave up after 1 retries")


def test_detect_causal_scores_a_file_as_watch_does(event_video, tmp_path):
    proc = run("detect", "--features", event_video["features"], "--checkpoint", event_video["checkpoint"], "--fps", FPS,
               "--causal", "--window", 4, "--min-event", f"{MIN_EVENT}s", "--merge-gap", "0.5s", "--out", tmp_path)
    assert str(tmp_path) in proc.stdout
    result = json.loads((tmp_path / "event.events.json").read_text())
    assert result["scoring"] == {"causal_window": 4, "lookahead": 0}
    assert [(e["start_frame"], e["end_frame"]) for e in result["events"]] == [(64, 127)]
    assert_user_error(run("detect", "--features", event_video["features"], "--checkpoint", event_video["checkpoint"],
                          "--causal", "--window", 0, "--out", tmp_path, check=False), "--window must be at least 1")


def test_a_two_crop_checkpoint_scores_alike_in_detect_and_watch(event_video, tmp_path):
    """One scoring path: a checkpoint trained on 2 crops is given I3D's 5 in both commands, and the
    same clip gets the same per-snippet scores and events (watch used to refuse it, asking for a
    --crops the user never passed)."""
    from glancevad.detect import run_detection
    from glancevad.events import EventSettings
    from glancevad.watch import SinkSet, StreamSpec, WatchSettings, watch
    from glancevad.watch.sinks import JsonLinesSink

    probe = torch.load(event_video["checkpoint"], weights_only=True)
    two_crops = tmp_path / "two.pt"
    save_checkpoint(two_crops, {**{k: probe[k] for k in ("model_name", "model_kwargs", "model_state")}, "crops": 2})
    detected = run_detection(event_video["path"], two_crops, out=tmp_path / "detect", window=4,
                             min_event=MIN_EVENT, merge_gap=0.5)
    written = json.loads((tmp_path / "detect" / "event.events.json").read_text())
    assert written["crops"] == 5

    watched: list[float] = []

    def record_scores(streams) -> None:
        for stream in streams:
            scored = stream.scored
            stream.scored = lambda scores, emit, scored=scored: (watched.extend(scores), scored(scores, emit))

    settings = WatchSettings(window=4, events=EventSettings(min_event=MIN_EVENT, merge_gap=0.5))
    summary = watch([StreamSpec("cam", str(event_video["path"]))], two_crops, settings,
                    sinks=SinkSet([JsonLinesSink(str(tmp_path / "alarms.jsonl"))]), on_start=record_scores)
    assert summary.settings["crops"] == 5 and summary.ended == "end of stream"
    detect_snippets = detected["frame_scores"][::16]
    assert len(watched) == len(detect_snippets) == FRAMES // 16
    np.testing.assert_allclose(watched, detect_snippets, rtol=0, atol=1e-6)
    spans = [(e.start_frame, e.end_frame) for e in detected["events"]]
    assert spans and spans == [(e["start_frame"], e["end_frame"]) for e in summary.streams[0].events]


def test_test_with_windows_compares_offline_and_causal(tiny_root, tmp_path):
    checkpoint = tmp_path / "mil.pt"
    torch.manual_seed(0)
    save_checkpoint(checkpoint, {"model_name": "mil", "model_kwargs": {"in_dim": 16},
                                 "model_state": build("mil", in_dim=16).state_dict(), "crops": 2})
    proc = run("test", "--checkpoint", checkpoint, "--data", tiny_root, "--out", tmp_path / "t", "--window", 5,
               "--window", 64, "--lookahead", 2)
    assert "offline vs causal" in proc.stdout and str(tmp_path / "t") in proc.stdout.replace("\n", "")
    table = json.loads((tmp_path / "t" / "causal.json").read_text())["metrics"]
    assert list(table) == ["offline", "W=5", "W=64"]
    for window in ("W=5", "W=64"):  # MIL with lookahead 2 and W >= 5: exactly offline scoring
        for key, value in table["offline"].items():
            assert table[window][key] == pytest.approx(value, abs=1e-6)
    assert (tmp_path / "t" / "causal.md").read_text().count("|") > 20


STREAMS = {"cam-a": ((64, 128), 0), "cam-b": ((32, 112), 1), "cam-quiet": ((0, 0), 2)}   # event frames, seed
LONG = 200   # frames of each live stream (8 s): they outlast the stalling one


def _scrape(url: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


@pytest.mark.slow
def test_four_streams_one_stalling_every_alarm_on_every_sink(event_video, tmp_path):
    """Three live HTTP streams and a stalling one in one process: each stream's alarms reach stdout, a file,
    a webhook and MQTT tagged with its name, its events are detect's on its file, the stall ends only it,
    and the metrics endpoint is scraped while it runs."""
    from prometheus_client.parser import text_string_to_metric_families

    from streams import Mosquitto

    videos, expected = {}, {}
    for name, (event, seed) in STREAMS.items():
        frames = event_frames(LONG, event, seed=seed)
        path = tmp_path / f"{name}.ts"
        encode_frames(frames, str(path), fps=FPS)
        features = SnippetExtractor(load_i3d(), ExtractionSettings(crops=1)).video(path)
        scores = frame_scores(_offline_scores({**event_video, "features": _save(tmp_path / name, features)}), LONG)
        expected[name] = [(e.start_frame, e.end_frame)
                          for e in find_events(scores, FPS, threshold=0.5, min_event=MIN_EVENT, merge_gap=0.5)]
        videos[name] = frames
    assert expected["cam-a"] == [(64, 127)] and expected["cam-b"] == [(32, 111)] and expected["cam-quiet"] == []
    data = event_video["path"].read_bytes()
    servers = {name: LocalServer(frames, fps=FPS) for name, frames in videos.items()}
    stall = LocalServer(stall_data=data, stall_bytes=len(data) // 3)
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text("streams:\n" + "".join(f"  - {{name: {n}, source: '{s.url}/live.ts'}}\n"
                                              for n, s in servers.items())
                       + f"  - {{name: cam-stall, source: '{stall.url}/stall.ts'}}\n")
    alarms, port = tmp_path / "alarms.jsonl", free_port()
    scrapes: list[tuple[int, str]] = []
    metrics: list[str] = []
    try:
        with Mosquitto(tmp_path) as broker:
            proc = subprocess.Popen(
                _watch("--sources", cameras, "--checkpoint", event_video["checkpoint"], "--window", 4,
                       "--min-event", f"{MIN_EVENT}s", "--merge-gap", "0.5s", "--alarms", alarms,
                       "--webhook", f"{stall.url}/hook", "--sink", f"mqtt={broker.url}/glancevad/alarms",
                       "--stall-timeout", 1, "--retries", 1, "--backoff", 0.2, "--metrics-port", port),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())

            def poll() -> None:
                while proc.poll() is None:
                    scrapes.append(_scrape(f"http://127.0.0.1:{port}/healthz"))
                    status, text = _scrape(f"http://127.0.0.1:{port}/metrics")
                    if status == 200:
                        metrics.append(text)
                    time.sleep(0.2)

            poller = threading.Thread(target=poll)
            poller.start()
            stdout, stderr = proc.communicate(timeout=300)
            poller.join()
            deadline = time.time() + 30
            while not any(m.get("kind") == "summary" for m in broker.messages) and time.time() < deadline:
                time.sleep(0.05)
            mqtt = list(broker.messages)
    finally:
        for server in [*servers.values(), stall]:
            server.close()
    assert proc.returncode == 1, stderr                       # one stream was lost
    assert "Traceback" not in stderr
    records = {"stdout": _lines(stdout), "file": _lines(alarms.read_text()), "webhook": list(stall.posts),
               "mqtt": mqtt}
    want = sorted((name, phase, start, end) for name, events in expected.items() for start, end in events
                  for phase in ("start", "end"))
    for sink, got in records.items():
        alarms_seen = sorted((r["stream"], r["phase"], r["start_frame"], r["end_frame"])
                             for r in got if r["kind"] == "alarm" and r["phase"] == "end")
        starts = sorted((r["stream"], r["start_frame"]) for r in got if r["kind"] == "alarm" and r["phase"] == "start")
        assert alarms_seen == [w for w in want if w[1] == "end"], sink
        assert starts == sorted((w[0], w[2]) for w in want if w[1] == "start"), sink
        per_stream = {r["stream"]: r for r in got if r["kind"] == "stream_summary"}
        assert set(per_stream) == {*STREAMS, "cam-stall"}, sink
        assert got[-1]["kind"] == "summary", sink
    summary = records["stdout"][-1]
    parts = {p["stream"]: p for p in summary["streams"]}
    for name in STREAMS:
        assert parts[name]["ended"] == "end of stream" and parts[name]["frames"] == LONG
        assert [(e["start_frame"], e["end_frame"]) for e in parts[name]["events"]] == expected[name]
        assert parts[name]["realtime_factor"] > 0 and f"{name}: end of stream" in stderr
    assert parts["cam-stall"]["ended"] == "source lost" and parts["cam-stall"]["stalls"] >= 1
    assert summary["ended"] == "source lost" and summary["frames"] == sum(p["frames"] for p in parts.values())
    assert summary["sink_failures"] == 0 and len(summary["sinks"]) == 4
    assert "total real-time factor" in stderr
    # the endpoint, scraped while the watch ran: healthy first, unhealthy once the stalling stream was lost
    statuses = [status for status, _ in scrapes if status]
    assert statuses[0] == 200 and 503 in statuses
    lost = json.loads(next(body for status, body in scrapes if status == 503))
    assert "cam-stall: source lost" in lost["problems"]
    families = {f.name: f for f in text_string_to_metric_families(metrics[-1])}
    frames = {s.labels["stream"]: s.value for s in families["glancevad_watch_frames"].samples
              if s.name.endswith("_total")}
    assert set(frames) == {*STREAMS, "cam-stall"} and all(v > 0 for v in frames.values())
    assert {"glancevad_watch_backlog_snippets", "glancevad_watch_realtime_factor", "glancevad_watch_stalls",
            "glancevad_watch_reconnects", "glancevad_watch_alarms", "glancevad_watch_sink_failures"} <= set(families)


def _save(stem, features) -> str:
    path = f"{stem}.features.npy"
    np.save(path, features)
    return path
