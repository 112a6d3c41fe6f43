"""``glancevad extract`` and ``glancevad detect`` on the real sample clip and on generated videos."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest
import torch

from cli_helpers import assert_user_error, run
from conftest import SAMPLE_CLIP
from glancevad.data.feature_files import FeatureIndex, load_features
from glancevad.engine.checkpoint import save_checkpoint
from glancevad.events import find_events
from glancevad.features.preprocess import snippet_crops
from glancevad.features.weights import load_i3d
from glancevad.models import build
from media import write_video

SAMPLE = SAMPLE_CLIP


@pytest.fixture(scope="module")
def sample_features(tmp_path_factory):
    """The sample clip extracted once by the CLI (centre crop, stacked layout)."""
    out = tmp_path_factory.mktemp("sample")
    proc = run("extract", SAMPLE, "--out", out, "--crops", "1", "--layout", "stacked", "--batch", "2")
    assert str(out) in proc.stdout
    return out


def test_sample_clip_features(sample_features):
    features = np.load(sample_features / "shanghaitech_01_002.npy")
    assert features.shape == (30, 1, 1024) and features.dtype == np.float32
    assert np.isfinite(features).all() and (features >= 0).all()  # averages of ReLU outputs
    manifest = json.loads((sample_features / "extraction.json").read_text())
    entry = manifest["videos"]["shanghaitech_01_002"]
    assert entry["status"] == "done" and entry["snippets"] == 30 and entry["frames"] == 481
    assert manifest["settings"] == {"crops": 1, "stack": 16, "step": 16, "fps": None, "weights": "rgb_scratch",
                                    "layout": "stacked", "feature_dim": 1024}
    assert manifest["precision"] == "fp32"
    # first snippet recomputed independently: PyAV frames → numpy bilinear resize → centre crop → network
    container = av.open(str(SAMPLE))
    frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(16), container.decode(video=0), strict=False)]
    container.close()
    resized = torch.nn.functional.interpolate(torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float(),
                                              size=(256, 457), mode="bilinear", align_corners=False)
    snippet = resized.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    with torch.no_grad():
        first = load_i3d().features(snippet_crops(snippet, 1))[0].numpy()
    np.testing.assert_allclose(features[0, 0], first, atol=1e-4)
    # and the stacked file is readable through the dataset layer
    index = FeatureIndex(sample_features)
    assert load_features(index.locate("shanghaitech_01_002"), expected_dim=1024).shape == (30, 1, 1024)


def test_resume_skips_finished_and_settings_are_checked(sample_features, tmp_path):
    target = sample_features / "shanghaitech_01_002.npy"
    before = target.stat().st_mtime_ns
    assert_user_error(run("extract", SAMPLE, "--out", sample_features, "--crops", "1", "--layout", "stacked",
                          check=False), "already holds an extraction", "--resume")
    # a killed run's temporaries of this run's videos go; another shard's file in progress stays
    orphans = [sample_features / ".shanghaitech_01_002.npy.k1ll3d.tmp", sample_features / ".extraction.json.x.tmp"]
    other = sample_features / ".another_video.npy.busy.tmp"
    for path in [*orphans, other]:
        path.write_bytes(b"partial")
    proc = run("extract", SAMPLE, "--out", sample_features, "--crops", "1", "--layout", "stacked", "--resume")
    assert "0 failed" in proc.stdout and target.stat().st_mtime_ns == before
    assert not any(p.exists() for p in orphans) and other.exists()
    other.unlink()
    assert_user_error(run("extract", SAMPLE, "--out", sample_features, "--crops", "5", "--layout", "stacked",
                          "--resume", check=False), "other settings")


def test_generated_videos_layouts_and_broken_files(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "portrait.mp4", 40, width=180, height=320)
    write_video(videos / "odd.mkv", 33, width=251, height=187, codec="ffv1")
    write_video(videos / "short.mp4", 10)
    (videos / "garbage.avi").write_bytes(b"RIFF" + bytes(100))
    full = write_video(tmp_path / "long.avi", 120)
    (videos / "truncated.avi").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    out = tmp_path / "features"
    proc = run("extract", videos, "--out", out, "--crops", "5", "--layout", "indexed", "--precision", "auto",
               check=False)
    assert proc.returncode == 1, proc.stderr
    assert "2 failed" in proc.stdout
    manifest = json.loads((out / "extraction.json").read_text())["videos"]
    assert manifest["short"]["status"] == "failed"
    assert "10 frames, fewer than one snippet of 16" in manifest["short"]["error"]
    assert manifest["garbage"]["status"] == "failed" and "garbage.avi" in manifest["garbage"]["error"]
    assert "short: " in proc.stderr and "garbage: " in proc.stderr
    assert manifest["portrait"]["snippets"] == 2 and manifest["odd"]["snippets"] == 2
    assert "truncated?" in manifest["truncated"]["warning"]
    for vid in ("portrait", "odd", "truncated"):
        files = [out / f"{vid}__{c}.npy" for c in range(5)]
        assert all(f.is_file() for f in files)
        assert np.load(files[0]).shape[1] == 1024
    assert not list(out.glob("short*")) and not list(out.glob(".*.tmp"))


def test_list_file_and_glancevad_layout(tmp_path):
    write_video(tmp_path / "a.mp4", 16)
    (tmp_path / "list.txt").write_text("# videos\na.mp4\n")
    out = tmp_path / "features"
    run("extract", "--list", tmp_path / "list.txt", "--out", out, "--crops", "10", "--fps", "25")
    names = sorted(p.name for p in out.glob("*.npy"))
    assert names == ["a.npy"] + [f"a__{c}.npy" for c in range(1, 10)]
    crops = [np.load(out / name) for name in ["a.npy"] + [f"a__{c}.npy" for c in range(1, 10)]]
    assert all(c.shape == (1, 1024) for c in crops)
    assert not np.allclose(crops[0], crops[5])  # a corner and its flip see different pictures


@pytest.mark.parametrize(("args", "fragments"), [
    (["--crops", "3"], ["--crops must be one of 1, 5, 10"]),
    (["--shard", "2/2"], ["--shard must be i/N"]),
    (["--weights", "missing.pt"], ["missing.pt: I3D weights file not found"]),
])
def test_extract_user_errors(tmp_path, args, fragments):
    write_video(tmp_path / "a.mp4", 16)
    assert_user_error(run("extract", tmp_path / "a.mp4", "--out", tmp_path / "o", *args, check=False), *fragments)


def test_a_folder_named_like_a_video_is_called_a_folder(tmp_path):
    (tmp_path / "videos").mkdir()
    write_video(tmp_path / "videos" / "a.mp4", 16)
    (tmp_path / "videos" / "b.mp4").mkdir()                       # skipped when a folder is scanned
    (tmp_path / "list.txt").write_text("videos/b.mp4\n")
    proc = run("extract", tmp_path / "videos", "--out", tmp_path / "o", "--crops", "1")
    assert sorted(p.name for p in (tmp_path / "o").glob("*.npy")) == ["a.npy"]
    proc = run("extract", "--list", tmp_path / "list.txt", "--out", tmp_path / "l", "--crops", "1", check=False)
    assert proc.returncode == 1 and f"failed: b: {tmp_path / 'videos' / 'b.mp4'}: is a folder, not a video file" in (
        proc.stderr.replace("\n", ""))


def test_two_concurrent_shards_then_merge(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(4):
        write_video(videos / f"v{i}.mp4", 16 + 8 * i, width=240, height=224)
    out = tmp_path / "features"
    env = {"PATH": "/usr/bin:/bin", "GLANCEVAD_CACHE": os.environ["GLANCEVAD_CACHE"]}
    procs = [subprocess.Popen([sys.executable, "-m", "glancevad", "extract", str(videos), "--out", str(out),
                               "--crops", "1", "--shard", f"{i}/2"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    shard0 = json.loads((out / "extraction.shard-0-of-2.json").read_text())["videos"]
    shard1 = json.loads((out / "extraction.shard-1-of-2.json").read_text())["videos"]
    assert sorted(shard0) == ["v0", "v2"] and sorted(shard1) == ["v1", "v3"]
    # as if shard 1 had run on a machine with bf16 units: the merged manifest names both precisions
    path1 = out / "extraction.shard-1-of-2.json"
    path1.write_text(json.dumps({**json.loads(path1.read_text()), "precision": "bf16"}))
    merged = run("extract", "merge", out)
    assert "4 videos extracted once each" in merged.stdout
    manifest = json.loads((out / "extraction.json").read_text())
    assert sorted(manifest["videos"]) == ["v0", "v1", "v2", "v3"] and manifest["precision"] == "bf16, fp32"
    # a shard that claims a video whose files are gone is caught
    (out / "v3.npy").unlink()
    assert_user_error(run("extract", "merge", out, check=False), "v3 is marked done but its feature files are missing")


@pytest.fixture(scope="module")
def checkpoint_1024(tmp_path_factory):
    """A MIL network on 1024-d features, saved as a glancevad checkpoint (crops: 1)."""
    torch.manual_seed(0)
    model = build("mil", in_dim=1024)
    path = tmp_path_factory.mktemp("ckpt") / "mil.pt"
    save_checkpoint(path, {"model_name": "mil", "model_kwargs": {"in_dim": 1024}, "model_state": model.state_dict(),
                           "crops": 1})
    return path


def test_detect_sample_clip(tmp_path, checkpoint_1024, sample_features):
    out = tmp_path / "detect"
    overlay = tmp_path / "overlay.mp4"
    proc = run("detect", SAMPLE, "--checkpoint", checkpoint_1024, "--out", out, "--threshold", "0.5",
               "--min-event", "0.5s", "--merge-gap", "1s", "--overlay", overlay, "--batch", "2")
    assert str(out) in proc.stdout and str(overlay) in proc.stdout
    summary = json.loads((out / "shanghaitech_01_002.events.json").read_text())
    assert summary["frames"] == 481 and summary["snippets"] == 30 and summary["crops"] == 1 and summary["fps"] == 24
    assert summary["precision"] == "fp32"
    with open(out / "shanghaitech_01_002.frame_scores.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 481 and rows[-1]["frame"] == "480"
    scores = np.array([float(r["score"]) for r in rows])
    assert np.all(scores[480:] == scores[479])  # trailing frame takes the last snippet's score
    events = find_events(scores, 24.0, threshold=0.5, min_event=0.5, merge_gap=1.0)
    assert [e["start_frame"] for e in summary["events"]] == [e.start_frame for e in events]
    with open(out / "shanghaitech_01_002.events.csv") as handle:
        assert len(list(csv.DictReader(handle))) == len(events)
    assert (out / "shanghaitech_01_002.scores.png").stat().st_size > 5000
    container = av.open(str(overlay))
    stream = container.streams.video[0]
    assert sum(1 for _ in container.decode(stream)) == 481
    assert (stream.codec_context.width, stream.codec_context.height) == (856, 480 + 36)
    container.close()
    # --features skips extraction and gives the same scores
    saved = out / "features" / "shanghaitech_01_002.npy"
    # the folder reads as a feature folder (what `annotate --features` and a dataset take)
    located = FeatureIndex(out / "features").locate("shanghaitech_01_002")
    assert located.stacked and load_features(located).shape == np.load(saved).shape
    again = tmp_path / "again"
    run("detect", "--features", saved, "--checkpoint", checkpoint_1024, "--out", again, "--fps", "24",
        "--min-event", "0.5s", "--merge-gap", "1s")
    with open(again / "shanghaitech_01_002.frame_scores.csv") as handle:
        rescored = np.array([float(r["score"]) for r in csv.DictReader(handle)])
    np.testing.assert_allclose(rescored, scores[:480], atol=1e-6)  # 30 snippets · 16 frames without the video


def test_detect_user_errors(tmp_path, checkpoint_1024):
    small = tmp_path / "small.pt"
    save_checkpoint(small, {"model_name": "mil", "model_kwargs": {"in_dim": 32},
                            "model_state": build("mil", in_dim=32).state_dict(), "crops": 1})
    assert_user_error(run("detect", SAMPLE, "--checkpoint", small, "--out", tmp_path, check=False),
                      "takes 32-d features but I3D gives 1024-d")
    assert_user_error(run("detect", "--checkpoint", checkpoint_1024, check=False), "give a VIDEO")
    short = write_video(tmp_path / "short.mp4", 8)
    assert_user_error(run("detect", short, "--checkpoint", checkpoint_1024, "--out", tmp_path, check=False),
                      "short.mp4: 8 frames, fewer than one snippet of 16 frames")
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros(5))
    assert_user_error(run("detect", "--features", bad, "--checkpoint", checkpoint_1024, check=False),
                      "bad.npy: expected features of shape [T, crops, D] or [T, D]")
    assert_user_error(run("detect", "--features", bad, "--checkpoint", checkpoint_1024, "--crops", "5", check=False),
                      "--features are extracted already")
    assert_user_error(run("detect", SAMPLE, "--checkpoint", checkpoint_1024, "--min-event", "soon", check=False),
                      "--min-event: expected seconds")
    afile = tmp_path / "afile"
    afile.write_text("x")
    for option, value, message in (("--fps", "0", "--fps must be a positive number"),
                                   ("--fps", "-5", "--fps must be a positive number"),
                                   ("--threshold", "nan", "--threshold must lie in [0, 1], got nan"),
                                   ("--crops", "0", "--crops must be one of 1, 5, 10, got 0"),
                                   ("--out", afile, f"{afile}: is a file; give a folder"),
                                   ("--overlay", tmp_path, f"{tmp_path}: is a folder; give a file name")):
        assert_user_error(run("detect", SAMPLE, "--checkpoint", checkpoint_1024, option, value, check=False), message)
    features = tmp_path / "nan.npy"
    values = np.ones((6, 1, 1024), np.float32)
    values[3, 0, 7] = np.nan
    np.save(features, values)
    assert_user_error(run("detect", "--features", features, "--checkpoint", checkpoint_1024, "--out", tmp_path / "o",
                          check=False), "nan.npy: snippet 3 holds NaN or infinite values")
    assert not (tmp_path / "o").exists()
    assert_user_error(run("extract", SAMPLE, "--out", afile, check=False), f"{afile}: is a file; give a folder")
