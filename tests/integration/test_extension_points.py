"""Each extension point is one place: a dummy network, kernel, annotation format, experiment and
training logger, each added only there, reach the grids, the paper planner and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from glancevad.experiments.planning import SECONDS_PER_RUN

# Registers the four dummies, each in its one place, then runs what reads them; prints what it saw.
SCRIPT = textwrap.dedent('''
    import json, sys
    from pathlib import Path

    import glancevad.tgs as tgs
    from glancevad.data.groundtruth import ANNOTATION_FORMATS, AnnotationFormat
    from glancevad.experiments.registry import register_experiment
    from glancevad.fileio import write_csv
    from glancevad.models.mil import MIL, mil_loss
    from glancevad.models.registry import register_model

    @register_model("tiny", base_loss=mil_loss, description="a dummy network", label="Tiny", paper_steps=3)
    def build_tiny(in_dim=1024, **kwargs):
        return MIL(in_dim=in_dim, hidden=8, head_hidden=4, **kwargs)

    tgs.KERNELS["box"] = tgs.Kernel(lambda distance, width: (distance.abs() <= width).float(), "a dummy kernel")

    def framed_fields(tokens, path, line):
        return int(tokens[0].removeprefix("frames=")), tokens[1:]

    ANNOTATION_FORMATS["framed"] = AnnotationFormat("framed", "a dummy format", "name frames=N s1 e1",
                                                    lambda t: len(t) > 1 and t[1].startswith("frames="),
                                                    framed_fields)

    from glancevad.engine.callbacks import LOGGERS
    from glancevad.engine.trainer import Callback

    class LossCsv(Callback):
        def __init__(self, run_dir):
            self.path = run_dir / "losses.csv"

        def on_log(self, trainer, step, values):
            with open(self.path, "a") as handle:
                handle.write(f"{step},{values['loss']}\\n")

    LOGGERS["csv"] = LossCsv

    from glancevad.experiments.grids import GRIDS, Cell, Grid, GridAnalysis

    def sketch(path, grid, cells, rows):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(",".join(row["key"] for row in rows))
        return path

    GRIDS["dummy-grid"] = Grid("a dummy grid", lambda: [Cell("a", "A"), Cell("b", "B")], GridAnalysis(
        extra_rows=lambda rows: [{**rows[1], "key": "b-minus-a", "label": "B - A",
                                  "auc_mean": rows[1]["auc_mean"] - rows[0]["auc_mean"]}],
        figure=sketch,
        claims=(lambda ours, cells, labels, what: f"{what}: B leads by {ours['b'][0] - ours['a'][0]:g}",),
        seed_claims=(lambda cells, per_data: [f"B leads on {sum(d['b'] > d['a'] for d in per_data)} seeds"],)))

    @register_experiment("dummy", "a dummy experiment")
    def dummy(data, out, *, preset, seeds, budget, parallel, overrides, on_plan, on_run):
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "table.md").write_text(f"seeds {seeds}, budget {budget}\\n")
        write_csv(out / "table.csv", [{"seeds": seeds}])
        (out / "figure.png").write_bytes(b"")
        return out / "table.csv", out / "table.md", out / "figure.png"

    from glancevad.cli import main
    from glancevad.experiments.grids import grid_cells
    from glancevad.experiments.paper import plan_paper
    from glancevad.experiments.planning import estimate_specs

    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    seen = {"networks": [c.label for c in grid_cells("networks")], "kernels": [c.key for c in grid_cells("kernels")]}
    plan = plan_paper(data, out / "paper", preset="demo", seeds=1, budget="paper", grids=("networks", "kernels"))
    seen["paper_steps"] = {s.config["model"]: s.config["steps"] for s in plan.grids["networks"][1]}
    seen["paper_kernels"] = sorted({s.config["kernel"] for s in plan.grids["kernels"][1]})
    tiny = [s for s in plan.unique if s.config["model"] == "tiny"]
    half_a_second = lambda config, shape: {"tiny": 0.5}[config["model"]]
    seen["estimate"] = estimate_specs(tiny, 1, step_seconds=half_a_second).wall_seconds
    seen["measured"] = estimate_specs(tiny, 1).wall_seconds   # its step timed here
    print("SEEN " + json.dumps(seen), flush=True)
    args = ["--batch-size", "2", "--precision", "fp32", "--set", "num_snippets=16", "--set", "eval_every=2",
            "--set", "val_fraction=0.25", "--set", "min_mining_step=1", "--steps", "2"]
    main(["train", "--data", str(data), "--out", str(out / "tiny"), "--model", "tiny", *args])
    main(["train", "--data", str(data), "--out", str(out / "box"), "--model", "tiny", "--set", "kernel=box", *args])
    (out / "ann.txt").write_text("a frames=64 16 32\\n")
    (out / "list.csv").write_text("video-id\\na\\n")
    (out / "lengths.csv").write_text("video-id,num_snippets_T\\na,4\\n")
    main(["gt", "build", "--annotations", str(out / "ann.txt"), "--list", str(out / "list.csv"),
          "--lengths", str(out / "lengths.csv"), "--format", "framed", "--out", str(out / "gt.json")])
    main(["experiment", "dummy", "--data", str(data), "--out", str(out / "dummy"), "--seeds", "2"])

    from glancevad.experiments.grids import grid_cells
    from glancevad.experiments.holds import grid_findings
    from glancevad.experiments.tables import METRICS, summarise, tabulate_grid

    cells = grid_cells("dummy-grid")
    figures = {"a": 0.6, "b": 0.8}
    results = {(key, seed): {c: {m: figures[key] + seed / 100 for m in METRICS} for c in ("best", "last")}
               for key in figures for seed in (0, 1)}
    _, _, pngs = tabulate_grid(out / "grid", "dummy-grid", cells, results, dataset_name="synthetic", seeds=2)
    rows = {c: summarise(cells, results, checkpoint=c) for c in ("best", "last")}
    found = grid_findings("dummy-grid", cells, rows, {c: [rows[c]] * 2 for c in rows}, {})
    seen["grid"] = {"figure": pngs[0].read_text(), "table": (out / "grid" / "table.csv").read_text(), "found": found}
    print("GRID " + json.dumps(seen["grid"]), flush=True)
''')


def test_a_network_kernel_format_and_experiment_each_added_in_one_place(tiny_root, tmp_path):
    import json

    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    if os.environ.get("PYTHONPATH"):   # the code under test (e.g. a worktree's src)
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_root), str(tmp_path)], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("SEEN "))[5:])
    assert {"Tiny (weak)", "Tiny (glance)", "UR-DMU (glance)"} <= set(seen["networks"])
    assert "box" in seen["kernels"] and "box" in seen["paper_kernels"]
    assert seen["paper_steps"]["tiny"] == 3 and seen["paper_steps"]["urdmu"] == 300
    assert seen["estimate"] == 2 * (3 * 0.5 + SECONDS_PER_RUN)   # the tiny weak and glance runs at its own step cost
    assert seen["measured"] > 2 * SECONDS_PER_RUN                 # ... which, by default, is timed on this machine
    for run in ("tiny", "box"):
        summary = json.loads((tmp_path / run / "summary.json").read_text())
        assert summary["finished"] and summary["steps"] == 2
        # the dummy logger wrote what the run's own JSON-lines log has
        logged = [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        rows = [line.split(",") for line in (tmp_path / run / "losses.csv").read_text().splitlines()]
        assert [(int(s), float(loss)) for s, loss in rows] == [(r["step"], r["loss"]) for r in logged if "loss" in r]
        assert rows
    assert json.loads((tmp_path / "box" / "summary.json").read_text())["steps"] == 2
    import yaml

    assert yaml.safe_load((tmp_path / "box" / "config.yaml").read_text())["kernel"] == "box"
    gt = json.loads((tmp_path / "gt.json").read_text())
    assert gt["a"]["labels"][:64] == [0] * 16 + [1] * 16 + [0] * 32
    assert (tmp_path / "dummy" / "table.md").read_text() == "seeds 2, budget full\n"
    # the dummy grid's own analysis, declared on its Grid entry alone: its extra row, figure and claims
    grid = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("GRID "))[5:])
    assert grid["figure"] == "a,b"                           # its figure, given the cells' rows only
    assert "b-minus-a,B - A,2,20.0" in grid["table"]         # its extra row (means in %)
    assert "AUC: B leads by 20" in grid["found"]["best"] and "AUC: B leads on 2 seeds" in grid["found"]["last"]
    help_text = subprocess.run([sys.executable, "-m", "glancevad", "experiment", "--help"], capture_output=True,
                               text=True, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"}).stdout
    assert "`selection`: the checkpoint-selection study" in help_text   # descriptions come from the registry
