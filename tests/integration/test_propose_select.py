"""``glancevad propose`` and ``select`` through the command line, on a network with a known score profile."""

from __future__ import annotations

import numpy as np
import pytest

from assist_helpers import profile_features, profile_score, write_profile_checkpoint
from cli_helpers import assert_user_error, run
from glancevad.assist.ranking import uncertainty

# snippet scores sigmoid(10 x - 5): abn_a [.007, .993, .007, .007], abn_b [.5, .5], abn_c [.119, .047]
PROFILES = {"abn_a": [0, 1, 0, 0], "abn_b": [0.5, 0.5], "abn_c": [0.3, 0.2], "normal_1": [0, 0]}


@pytest.fixture
def root(tmp_path):
    """A dataset in the official layout without glances: the training list states the labels."""
    data = tmp_path / "data"
    for split in ("train", "test"):
        (data / "i3d" / split).mkdir(parents=True)
    (data / "toy.training.csv").write_text(
        "video-id,label\n" + "".join(f"{vid},{int(not vid.startswith('normal'))}\n" for vid in PROFILES))
    (data / "toy.testing.csv").write_text("video-id,label\nnormal_9,0\n")
    for vid, x0 in PROFILES.items():
        np.save(data / "i3d" / "train" / f"{vid}.npy", profile_features(x0))
    np.save(data / "i3d" / "test" / "normal_9.npy", profile_features([0, 0]))
    write_profile_checkpoint(tmp_path / "best.pt")
    return data


def test_propose_writes_one_glance_per_predicted_event_at_its_peak(root, tmp_path):
    out = tmp_path / "proposals.csv"
    printed = run("propose", "--checkpoint", tmp_path / "best.pt", "--data", root, "--out", out, "--device", "cpu")
    # abn_a: frames 16..31 above 0.5 -> peak 16; abn_b: every frame at 0.5 -> one event, peak at its first frame
    assert out.read_text() == "video-id,glance\nabn_a,16\nabn_b,0\n"
    assert "proposed 2 glances in 2 of 4 videos" in printed.stdout and str(out) in printed.stdout
    # a higher threshold leaves abn_a only; a folder of features works the same
    run("propose", "--checkpoint", tmp_path / "best.pt", "--features", root / "i3d" / "train", "--out", out,
        "--threshold", "0.6")
    assert out.read_text() == "video-id,glance\nabn_a,16\n"


def test_select_ranks_unglanced_abnormal_videos(root, tmp_path):
    out = tmp_path / "next.csv"
    ckpt = tmp_path / "best.pt"
    # coverage (the default) = mean score: abn_b 0.5, abn_a 0.255, abn_c 0.083; normal_1 never
    printed = run("select", "--checkpoint", ckpt, "--data", root, "--budget", "2", "--out", out).stdout
    assert out.read_text() == "video-id\nabn_b\nabn_a\n"
    assert f"abn_a  coverage {(3 * profile_score(0) + profile_score(1)) / 4:.4f}" in printed
    # disagreement = 1 - top-k mean (k = 1 here): abn_c 0.881, abn_b 0.5, abn_a 0.007
    glanced = tmp_path / "glances.csv"
    glanced.write_text("video-id,glance\nabn_c,3\n")
    run("select", "--checkpoint", ckpt, "--data", root, "--budget", "5", "--out", out, "--glances", glanced,
        "--criterion", "disagreement")
    assert out.read_text() == "video-id\nabn_b\nabn_a\n"
    run("select", "--checkpoint", ckpt, "--data", root, "--budget", "1", "--out", out, "--criterion", "disagreement")
    assert out.read_text() == "video-id\nabn_c\n"
    # uncertainty: abn_b (1 bit) first, then abn_c, then abn_a
    run("select", "--checkpoint", ckpt, "--data", root, "--budget", "3", "--out", out, "--criterion", "uncertainty")
    assert out.read_text() == "video-id\nabn_b\nabn_c\nabn_a\n"
    values = {vid: uncertainty(np.array([profile_score(x) for x in x0])) for vid, x0 in PROFILES.items()}
    assert values["abn_b"] > values["abn_c"] > values["abn_a"]


def test_bad_input_is_one_error_line(root, tmp_path):
    wide = write_profile_checkpoint(tmp_path / "wide.pt", dim=32)
    proc = run("propose", "--checkpoint", wide, "--data", root, "--out", tmp_path / "p.csv", check=False)
    assert_user_error(proc, "wide.pt: the network takes 32-d features, but", "holds 16-d")
    proc = run("select", "--checkpoint", wide, "--data", root, "--budget", "1", "--out", tmp_path / "n.csv",
               check=False)
    assert_user_error(proc, "takes 32-d features")
    proc = run("propose", "--checkpoint", tmp_path / "best.pt", "--out", tmp_path / "p.csv", check=False)
    assert_user_error(proc, "give either --data ROOT or --features DIR")
    proc = run("select", "--checkpoint", tmp_path / "best.pt", "--data", root, "--budget", "1", "--criterion", "x",
               "--out", tmp_path / "n.csv", check=False)
    assert_user_error(proc, "--criterion must be one of uncertainty, disagreement, coverage")
    every = tmp_path / "all.csv"
    every.write_text("video-id,glance\nabn_a,1\nabn_b,1\nabn_c,1\n")
    proc = run("select", "--checkpoint", tmp_path / "best.pt", "--data", root, "--budget", "1", "--glances", every,
               "--out", tmp_path / "n.csv", check=False)
    assert_user_error(proc, "every abnormal training video already has a glance")
