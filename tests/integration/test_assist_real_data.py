"""Model assistance as a user runs it on their own data: a 16-d network trained on 2-crop synthetic features,
served with its feature files through ``glancevad annotate --checkpoint --features``, its proposals imported."""

from __future__ import annotations

import time

import httpx
import numpy as np

from cli_helpers import AnnotateServer, assert_user_error, run
from glancevad.annotate.store import GlanceStore
from glancevad.assist.scoring import score_features
from glancevad.data.feature_files import FeatureIndex, feature_shape
from glancevad.engine.checkpoint import read_checkpoint
from media import write_video


def scores_when_settled(url: str, video_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/api/videos/{video_id}/scores", timeout=10).json()
        if body["state"] in ("ready", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{video_id}: never scored: {body}")


def test_a_16d_two_crop_network_assists_on_its_own_features(tiny_root, tmp_path):
    run_dir = tmp_path / "run"
    run("train", "--data", tiny_root, "--out", run_dir, "--steps", "3", "--batch-size", "2", "--precision", "fp32",
        "--set", "num_snippets=16", "--set", "eval_every=3", "--set", "val_fraction=0.25")
    checkpoint = run_dir / "best.pt"
    state = read_checkpoint(checkpoint)
    assert state["crops"] == 2 and state["model_kwargs"]["in_dim"] == 16
    features = tiny_root / "i3d" / "test"
    index = FeatureIndex(features)
    lengths = {vid: feature_shape(index.locate(vid))[0] for vid in index.video_ids()}
    fits, misfit = sorted(lengths, key=lengths.get)[:2]
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / f"{fits}.mp4", 16 * lengths[fits] + 5, width=64, height=48)   # whole snippets + 5 frames
    write_video(videos / f"{misfit}.mp4", 16 * lengths[misfit] + 40, width=64, height=48)  # 2 snippets too long
    write_video(videos / "no_features.mp4", 40, width=64, height=48)
    db = tmp_path / "g.sqlite"
    with AnnotateServer(videos, db, "--checkpoint", checkpoint, "--features", features) as server:
        good = scores_when_settled(server.url, fits)
        bad = scores_when_settled(server.url, misfit)
        none = scores_when_settled(server.url, "no_features")
        server.kill()
        printed = server.proc.stdout.read() + server.proc.stderr.read()
    # the page shows the scores glancevad gives these features elsewhere (propose's scoring path)
    expected = score_features(checkpoint, features=features, device="cpu")[fits]
    run("propose", "--checkpoint", checkpoint, "--features", features, "--out", tmp_path / "p.csv", "--threshold", "0")
    assert good["state"] == "ready" and len(good["scores"]) == lengths[fits]
    assert np.allclose(good["scores"], expected, atol=1e-4)
    assert bad["state"] == "failed" and f"{lengths[misfit]} snippets of features, but the video has" in bad["message"]
    assert none["state"] == "failed" and "takes 16-d features but I3D gives 1024-d" in none["message"]
    unwrapped = "".join(printed.split())  # the console wraps long lines
    assert f"{misfit}.npy:{lengths[misfit]}snippetsoffeatures" in unwrapped
    assert "1video(s)havenofeaturefileandwillnotbescored(no_features)" in unwrapped
    # its proposals name every test video; the folder holds three of them
    proposals = tmp_path / "p.csv"
    proc = run("annotate", "import", proposals, "--videos", videos, "--db", db, "--status", "proposed",
               "--annotator", "model", "--model", check=False)
    assert_user_error(proc, "p.csv:", "are not in", "--skip-unknown")
    rows = [line.split(",") for line in proposals.read_text().splitlines()[1:]]
    outside = [r for r in rows if r[0] not in (fits, misfit)]
    inside = [r for r in rows if r[0] in (fits, misfit)]
    printed = run("annotate", "import", proposals, "--videos", videos, "--db", db, "--status", "proposed",
                  "--annotator", "model", "--model", "--skip-unknown").stdout
    assert f"skipped {len(outside)} glances of {len({r[0] for r in outside})} video(s) not in" in printed
    assert f"imported {len(inside)} glances" in printed
    assert sum(len(GlanceStore(db).glances(vid)) for vid in (fits, misfit)) == len(inside)


