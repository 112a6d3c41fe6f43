"""The command line as a user runs it: real subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import assert_user_error, run
from conftest import UCF
from glancevad.data.groundtruth import read_ground_truth
from glancevad.glance import read_glances
from glancevad.metrics import evaluate_scores

COMMANDS = [
    ([], ["synth", "evaluate", "data", "gt", "glances", "train", "test", "compare", "watch", "export"]),
    (["synth"], ["--size", "--dim", "--crops", "--crop-naming", "--seed", "--force"]),
    (["data", "check"], ["--dim", "--glances", "--features", "--normal-pattern"]),
    (["gt", "build"], ["--annotations", "--list", "--lengths", "--features", "--format", "--out"]),
    (["glances", "stats"], ["--data", "--lengths", "--out"]),
    (["glances", "simulate"], ["--gt", "--out", "--seed", "--perturb"]),
    (["glances", "perturb"], ["--max-shift", "--data", "--lengths", "--out", "--seed"]),
    (["evaluate"], ["--scores", "--gt", "--out", "--far-threshold"]),
    (["train"], ["--data", "--out", "--resume", "--preset", "--model", "urdmu", "--supervision", "--glance-fraction",
                 "--weak-fraction", "--steps", "--batch-size", "--precision", "--device", "--seed", "--config",
                 "--set", "--cache-dir"]),
    (["test"], ["--checkpoint", "--data", "--out", "--precision", "--device", "--plots", "--window", "--lookahead"]),
    (["compare"], ["--name", "--data", "--out"]),
    (["extract"], ["run", "merge"]),
    (["extract", "run"], ["--out", "--list", "--root", "--crops", "--layout", "--stack", "--step", "--fps",
                          "--weights", "--device", "--batch", "--precision", "--shard", "--resume"]),
    (["annotate"], ["--videos", "--db", "--host", "--port", "--token", "--duplicate-frames", "--transcode",
                    "export", "import"]),
    (["detect"], ["--checkpoint", "--features", "--out", "--threshold", "--min-event", "--merge-gap", "--overlay",
                  "--fps", "--crops", "--weights", "--causal", "--window", "--lookahead"]),
    (["watch"], ["--checkpoint", "--window", "--lookahead", "--threshold", "--min-event", "--merge-gap", "--crops",
                 "--precision", "--device", "--weights", "--realtime", "--follow", "--stall-timeout", "--retries",
                 "--backoff", "--input-format", "--alarms", "--webhook"]),
    (["export"], ["--checkpoint", "--format", "torchscript", "onnx", "--out", "--with-i3d", "--crops", "--weights"]),
]


@pytest.mark.parametrize(("command", "words"), COMMANDS)
def test_help_lists_every_option(command, words):
    out = run(*command, "--help").stdout
    for word in words:
        assert word in out


def test_synth_check_stats_and_evaluate_end_to_end(tmp_path):
    root = tmp_path / "data"
    out = run("synth", root, "--size", "tiny", "--crop-naming", "indexed").stdout
    assert str(root) in out
    assert (root / "i3d" / "train" / "normal_train_0001__0.npy").exists()
    check = run("data", "check", root).stdout
    assert "all checks passed" in check and "train" in check
    stats = run("glances", "stats", root / "synthetic_glance_annotations.csv", "--data", root,
                "--out", tmp_path / "stats").stdout
    assert (tmp_path / "stats" / "glance_stats.png").stat().st_size > 1000
    assert str(tmp_path / "stats" / "glance_stats.json") in stats.replace("\n", "")
    gt = read_ground_truth(root / "synthetic_ground_truth.json")
    rng = np.random.default_rng(0)
    scores = {vid: rng.random(len(labels) // 16).tolist() for vid, labels in gt.items()}
    (tmp_path / "scores.json").write_text(json.dumps(scores))
    run("evaluate", "--scores", tmp_path / "scores.json", "--gt", root / "synthetic_ground_truth.json")
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written == pytest.approx(evaluate_scores(scores, gt))


def test_synth_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    assert_user_error(run("synth", tmp_path, "--preset", "tiny", check=False), "not empty", "--force")
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_gt_build_on_real_ucf(tmp_path):
    out = tmp_path / "ucf_gt.json"
    printed = run("gt", "build", "--annotations", UCF / "UCF_Annotation.txt", "--list",
                  UCF / "ucf-crime.testing.csv", "--lengths", UCF / "test_lengths.csv", "--out", out).stdout
    assert "290 videos (140 abnormal, 0 annotation(s) unmatched)" in printed
    assert len(read_ground_truth(out)) == 290


def test_gt_build_from_feature_files(tmp_path, tiny_root):
    ann = tmp_path / "ann.txt"
    ann.write_text("abnormal_test_0001.mp4 0 20\nunknown_video 1 2\n")
    out = tmp_path / "gt.json"
    proc = run("gt", "build", "--annotations", ann, "--list", tiny_root / "synthetic.testing.csv",
               "--features", tiny_root / "i3d" / "test", "--out", out)
    assert "unknown_video matches no id" in proc.stderr
    gt = read_ground_truth(out)
    assert gt["abnormal_test_0001"][:20].all() and gt["abnormal_test_0001"].sum() == 20


def test_glances_simulate_and_perturb(tmp_path, tiny_root):
    sim = tmp_path / "sim.csv"
    run("glances", "simulate", "--gt", tiny_root / "synthetic_train_ground_truth.json", "--out", sim, "--seed", "4")
    gt = read_ground_truth(tiny_root / "synthetic_train_ground_truth.json")
    glances = read_glances(sim)
    assert glances and all(gt[v][f] == 1 for v, fs in glances.items() for f in fs)
    moved = tmp_path / "moved.csv"
    run("glances", "perturb", sim, "--max-shift", "50", "--data", tiny_root, "--out", moved)
    shifted = read_glances(moved)
    assert set(shifted) == set(glances)
    assert all(0 <= f < len(gt[v]) for v, fs in shifted.items() for f in fs)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["data", "check", "/nonexistent/root"], ["/nonexistent/root: dataset folder not found"]),
        (["evaluate", "--scores", "/nope.json", "--gt", "/nope2.json"], ["/nope.json: scores JSON not found"]),
        (["glances", "stats", "/nope.csv"], ["/nope.csv: glance CSV not found"]),
        (["gt", "build", "--annotations", "a", "--list", "b", "--out", "c"], ["exactly one of --lengths"]),
        (["synth", "/tmp/x", "--size", "huge"], ["unknown synthetic dataset size 'huge'"]),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(args, fragments):
    assert_user_error(run(*args, check=False), *fragments)


def test_data_check_lists_every_problem_and_fails(tiny_copy):
    victim = sorted((tiny_copy / "i3d" / "test").glob("*__1.npy"))[0]
    np.save(victim, np.full((3, 16), np.nan, np.float32))
    proc = run("data", "check", tiny_copy, check=False)
    assert_user_error(proc, "problem(s) found")
    assert victim.name in proc.stderr


def test_evaluate_rejects_scores_of_the_wrong_length(tmp_path):
    (tmp_path / "gt.json").write_text(json.dumps({"v": {"labels": [0] * 32}}))
    (tmp_path / "s.json").write_text(json.dumps({"v": [0.5]}))
    assert_user_error(run("evaluate", "--scores", tmp_path / "s.json", "--gt", tmp_path / "gt.json", check=False),
                      "video v: 32 frame labels but 1 snippet scores")


def test_usage_errors_exit_non_zero_without_traceback():
    proc = run("synth", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "Missing argument" in proc.stderr


def _output_cases(root, tiny):
    """(command line with OUT where the output goes, kind of output) for every command that writes."""
    gt = tiny / "synthetic_train_ground_truth.json"
    glances = tiny / "synthetic_glance_annotations.csv"
    scores = root / "scores.json"
    checkpoint = root / "x.pt"
    return [
        (["train", "--data", tiny, "--out", "OUT"], "folder"),
        (["test", "--checkpoint", checkpoint, "--data", tiny, "--out", "OUT"], "folder"),
        (["evaluate", "--scores", scores, "--gt", gt, "--out", "OUT"], "file"),
        (["gt", "build", "--annotations", UCF / "UCF_Annotation.txt", "--list", UCF / "ucf-crime.testing.csv",
          "--lengths", UCF / "test_lengths.csv", "--out", "OUT"], "file"),
        (["glances", "simulate", "--gt", gt, "--out", "OUT"], "file"),
        (["glances", "perturb", glances, "--max-shift", "5", "--data", tiny, "--out", "OUT"], "file"),
        (["glances", "stats", glances, "--out", "OUT"], "folder"),
        (["compare", root, "--out", "OUT"], "folder"),
        (["experiment", "kernels", "--data", tiny, "--out", "OUT"], "folder"),
        (["paper", "--data", tiny, "--out", "OUT"], "folder"),
        (["synth", "OUT", "--size", "tiny"], "folder"),
        (["extract", root / "v.mp4", "--out", "OUT"], "folder"),
        (["detect", root / "v.mp4", "--checkpoint", checkpoint, "--out", "OUT"], "folder"),
        (["export", "--checkpoint", checkpoint, "--out", "OUT"], "folder"),
        (["annotate", "export", "--db", root / "g.sqlite", "--out", "OUT"], "file"),
        (["propose", "--checkpoint", checkpoint, "--data", tiny, "--out", "OUT"], "file"),
        (["select", "--checkpoint", checkpoint, "--data", tiny, "--budget", "1", "--out", "OUT"], "file"),
    ]


@pytest.mark.parametrize("case", range(17))
def test_unusable_output_paths_are_refused_before_any_work(case, tmp_path, tiny_root):
    """A file for a folder and the reverse, a path below a file, and a place the OS refuses to create
    (``/proc``: ``os.access`` says root may write there) are each one error line, before any work."""
    args, kind = _output_cases(tmp_path, tiny_root)[case]
    (tmp_path / "afile").write_text("keep me")
    (tmp_path / "adir").mkdir()
    wrong_kind = tmp_path / ("afile" if kind == "folder" else "adir")
    expected = "is a file; give a folder" if kind == "folder" else "is a folder; give a file name"
    for target, message in ((wrong_kind, expected), (tmp_path / "afile" / "sub", "cannot be created, "),
                            (Path("/proc/glancevad-out"), "cannot write there (/proc: ")):
        proc = run(*[target if a == "OUT" else a for a in args], check=False)
        assert_user_error(proc, f"{target}: {message}")
        assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1, proc.stderr
    assert (tmp_path / "afile").read_text() == "keep me" and not any((tmp_path / "adir").iterdir())


def test_the_output_check_leaves_nothing_behind(tmp_path):
    from glancevad.fileio import check_output

    assert check_output(tmp_path / "new" / "run", kind="folder") == tmp_path / "new" / "run"
    assert check_output(tmp_path / "other" / "x.json", kind="file") == tmp_path / "other" / "x.json"
    assert not any(tmp_path.iterdir())
    (tmp_path / "run").mkdir()
    check_output(tmp_path / "run", kind="folder")
    assert (tmp_path / "run").is_dir() and not any((tmp_path / "run").iterdir())


def test_a_place_the_os_refuses_is_named_with_the_os_reason():
    from glancevad.errors import GlanceVADError
    from glancevad.fileio import check_output

    with pytest.raises(GlanceVADError, match=r"/proc/a/b: cannot write there \(/proc: No such file or directory\)"):
        check_output("/proc/a/b", kind="folder")


def test_data_check_problems_stay_one_line_each_on_a_narrow_pipe(tiny_copy):
    victims = sorted((tiny_copy / "i3d" / "test").glob("*__1.npy"))[:2]
    for victim in victims:
        np.save(victim, np.full((3, 16), np.nan, np.float32))
    proc = subprocess.run([sys.executable, "-m", "glancevad", "data", "check", str(tiny_copy)], capture_output=True,
                          text=True, env={"COLUMNS": "40", "PATH": "/usr/bin:/bin"})
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3 and all(any(v.name in line for line in errors) for v in victims), proc.stderr
    assert all(line.startswith("error: ") for line in proc.stderr.splitlines() if "npy" in line)


def test_messages_name_the_file_or_folder(tmp_path, tiny_copy):
    import torch

    odd = tmp_path / "odd.pt"
    torch.save({"some.weight": torch.zeros(2)}, odd)
    proc = run("test", "--checkpoint", odd, "--data", tiny_copy, "--out", tmp_path / "t", check=False)
    assert_user_error(proc, f"{odd}: state dict matches no registered model")
    (tmp_path / "empty").mkdir()
    proc = run("extract", tmp_path / "empty", "--out", tmp_path / "f", check=False)
    assert_user_error(proc, f"no videos in {tmp_path / 'empty'}")


def test_a_video_id_that_looks_like_a_crop_gets_a_hint(tiny_copy):
    from glancevad.data.feature_files import FeatureIndex
    from glancevad.errors import DataError

    folder = tiny_copy / "i3d" / "train"
    source = sorted(folder.glob("normal_*__1.npy"))[0]
    source.rename(folder / "normal_cam__2.npy")
    with pytest.raises(DataError, match=r"video normal_cam__2: no feature file .*ends in '__<number>'"):
        FeatureIndex(folder).locate("normal_cam__2")


def test_undefined_metrics_are_one_warning_line_each(tmp_path):
    (tmp_path / "gt.json").write_text(json.dumps({"v": {"labels": [1] * 32}}))   # no normal video
    (tmp_path / "s.json").write_text(json.dumps({"v": [0.2, 0.9]}))
    proc = run("evaluate", "--scores", tmp_path / "s.json", "--gt", tmp_path / "gt.json")
    warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    assert warnings and all(line.startswith("warning: ") for line in warnings), proc.stderr
    assert any("false-alarm rate is undefined with no normal video" in line for line in warnings)


def test_data_check_takes_a_listed_id_that_ends_in_a_crop_number(tiny_copy):
    """A training video listed as ``normal_cam__2`` (files ``normal_cam__2.npy``, ``normal_cam__2__1.npy``)
    passes ``data check``: the lists settle which files are whose."""
    folder = tiny_copy / "i3d" / "train"
    old = sorted(p.name[:-4] for p in folder.glob("normal_*.npy") if "__" not in p.name)[0]
    (folder / f"{old}.npy").rename(folder / "normal_cam__2.npy")
    (folder / f"{old}__1.npy").rename(folder / "normal_cam__2__1.npy")
    for csv in tiny_copy.glob("*.training.csv"):
        lines = csv.read_text().splitlines()
        csv.write_text("\n".join("normal_cam__2" if line == old else line for line in lines) + "\n")
    proc = run("data", "check", tiny_copy)
    assert "normal_cam__2" not in proc.stderr
