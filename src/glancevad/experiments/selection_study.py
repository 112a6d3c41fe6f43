"""The selection study: which validation rule picks a checkpoint that tests well?

Each run trains as usual, and after every validation a hook also scores the *test* set. That
trace serves this analysis only: the run's own ``best.pt`` never sees it. Afterwards, for each
rule of ``glancevad.checkpoint_selection`` with ties to the earlier step (and the glance AUC without
the mining gate, to show what the gate does, and the default rule with ties to the later step or to
the lower held-out BCE), the study looks up the test
metrics of the checkpoint the rule selects from the logged validation scores, beside two weight
averages no checkpoint holds (an EMA of every step's weights and an SWA of the evaluated checkpoints
of the run's second half, each tested once at the end), ``last.pt`` and the best-on-test oracle (a
bound no honest protocol reaches).

Folder::

    runs/<supervision>/seed<k>/      ordinary run folders + test_trace.jsonl (step, test metrics)
                                     + averages.json (test metrics of the EMA and SWA weights)
    selection.csv, selection.md      one row per (supervision, rule): mean ± std over seeds
    selection.png                    test AUC over steps per run, each rule's choice marked
"""

from __future__ import annotations

import copy
import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glancevad.checkpoint_selection import SELECTION_RULES, choose_step
from glancevad.config import resolve_config
from glancevad.data.dataset import load_dataset
from glancevad.engine.callbacks import Callback, OnValidation
from glancevad.engine.run_folder import read_evaluations, read_first_eligible
from glancevad.engine.scoring import score_videos
from glancevad.engine.trainer import Trainer
from glancevad.experiments.tables import seed_mean_std
from glancevad.fileio import atomic_write, read_jsonl, save_figure, write_csv, write_json
from glancevad.metrics import UndefinedMetricWarning, evaluate_scores

#: Columns of the study besides the rules: what the trainer could not know.
REFERENCES = ("last.pt", "oracle (best on test)")
#: The EMA's decay per step: it averages over about the last 1 / (1 - decay) = 100 steps.
EMA_DECAY = 0.99
#: Rows of weights averaged over training, tested once at the last step.
AVERAGES = (f"EMA (decay {EMA_DECAY:g})", "SWA (second half)")
NO_GATE = "glance_auc (any step)"
#: the default rule with ties going to the later step: once validation saturates (every held-out
#: glance above every normal snippet) the earliest tied step is chosen, though training goes on
LATER_TIES = "glance_auc-alarm (ties: later)"
#: the default rule with ties going to the lower held-out BCE (the trainer's default, ``selection_tiebreak``)
BCE_TIES = "glance_auc-alarm (ties: heldout_bce)"
METRICS = ("auc", "auc_a", "far")


def _test_metrics(model: torch.nn.Module, dataset, precision: str) -> dict[str, float]:
    """Test metrics of ``model``, the test videos read one at a time, memory-mapped (as ``glancevad test``
    reads them) and never held between calls: at UCF-Crime's size the test features are gigabytes,
    which every grid worker would otherwise keep for the whole run."""
    videos = ((v.id, dataset.load_features(v, mmap=True)) for v in dataset.test)
    scores = score_videos(model, videos, device=next(model.parameters()).device, precision=precision)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return evaluate_scores(scores, dataset.ground_truth, frames_per_snippet=dataset.frames_per_snippet)


def trace_callback(dataset, path: Path, precision: str) -> Callback:
    """A training callback appending the test metrics of the current weights to ``path`` at each evaluation."""

    def on_eval(step: int, model: torch.nn.Module, val: dict) -> None:
        metrics = _test_metrics(model, dataset, precision)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": step, **metrics}) + "\n")

    return OnValidation(on_eval)


class WeightAverages(Callback):
    """Two averages of a run's weights, tested once at its last step into ``path`` (``averages.json``):
    an EMA updated after every step (decay :data:`EMA_DECAY`, as timm's ``ModelEmaV2`` keeps one) and an
    SWA, the plain mean of the checkpoints evaluated in the second half of the run (as
    ``torch.optim.swa_utils`` averages). Buffers are averaged with the parameters. The study trains a run
    in one go (an unfinished one is trained afresh), so the averages need no place in the checkpoint."""

    def __init__(self, dataset, path: Path, precision: str, decay: float = EMA_DECAY):
        self.dataset, self.path, self.precision, self.decay = dataset, path, precision, decay
        self.ema: dict[str, torch.Tensor] = {}
        self.swa: dict[str, torch.Tensor] = {}
        self.swa_count = 0

    @staticmethod
    def _floats(model: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    def on_fit_start(self, trainer: Trainer) -> None:
        self.ema = self._floats(trainer.model)

    def on_step_end(self, trainer: Trainer, step: int, values: dict[str, float]) -> None:
        with torch.no_grad():
            for key, value in trainer.model.state_dict().items():
                if key in self.ema:
                    self.ema[key].lerp_(value, 1 - self.decay)

    def averages(self) -> dict[str, dict[str, torch.Tensor]]:
        """The averaged floating-point weights so far, by the study's row name."""
        swa = {k: v / self.swa_count for k, v in self.swa.items()} if self.swa_count else {}
        return dict(zip(AVERAGES, (self.ema, swa), strict=True))

    def on_validation_end(self, trainer: Trainer, step: int, scores: dict[str, float]) -> None:
        if 2 * step > trainer.cfg.steps:
            current = self._floats(trainer.model)
            self.swa = current if not self.swa else {k: self.swa[k] + current[k] for k in current}
            self.swa_count += 1
        if step == trainer.cfg.steps:
            # the EMA has not seen this step yet (on_step_end follows): fold it in, as it would be
            self.on_step_end(trainer, step, {})
            results = {}
            for name, average in self.averages().items():
                model = copy.deepcopy(trainer.model)
                model.load_state_dict(average, strict=False)
                results[name] = {"step": step, **_test_metrics(model, self.dataset, self.precision)}
            write_json(self.path, results)
            self.ema = {}   # the step after this one must not move it again


def _choices(run_dir: Path) -> dict[str, dict[str, float]]:
    """Test metrics of each rule's choice, last.pt and the oracle, for one finished run."""
    evaluations = read_evaluations(run_dir)
    trace = {r["step"]: r for r in read_jsonl(run_dir / "test_trace.jsonl")}
    gate = read_first_eligible(run_dir)
    chosen = {rule: choose_step(evaluations, rule, first_eligible=gate) for rule in SELECTION_RULES}
    chosen[NO_GATE] = choose_step(evaluations, "glance_auc", first_eligible=1)
    chosen[LATER_TIES] = choose_step(evaluations, "glance_auc-alarm", first_eligible=gate, tiebreak="later")
    chosen[BCE_TIES] = choose_step(evaluations, "glance_auc-alarm", first_eligible=gate, tiebreak="heldout_bce")
    averages = json.loads((run_dir / "averages.json").read_text())
    chosen["last.pt"] = evaluations[-1][0]
    chosen["oracle (best on test)"] = max(trace, key=lambda s: (trace[s]["auc"], -s))
    picks = {name: {"step": step, **{m: trace[step][m] for m in METRICS}} for name, step in chosen.items()}
    return {**picks, **{name: {"step": averages[name]["step"], **{m: averages[name][m] for m in METRICS}}
                        for name in AVERAGES}}


def run_selection_study(
    data: str | Path, out: str | Path, *, preset: str | None = "demo", seeds: int = 3,
    supervisions: tuple[str, ...] = ("glance", "weak"), overrides: dict[str, Any] | None = None,
    on_plan: Callable[[int], None] | None = None, on_run: Callable[[str], None] | None = None,
) -> tuple[Path, Path, Path]:
    """Train ``seeds`` runs per supervision with a test trace; write the study's table and figure.

    A finished run (``summary.json`` says so, and its trace is complete) is not trained again; an
    unfinished one is started afresh, since its trace would miss the evaluations before the kill.
    Returns ``(selection.csv, selection.md, selection.png)``.
    """
    from glancevad.engine.run import train

    data, out = Path(data), Path(out)
    dataset = load_dataset(data)
    if dataset.ground_truth is None:
        from glancevad.errors import GlanceVADError

        raise GlanceVADError(f"{data}: the selection study needs test ground truth")
    runs = [(sup, seed) for sup in supervisions for seed in range(seeds)]
    if on_plan:
        on_plan(len(runs))
    per_run: dict[tuple[str, int], dict[str, dict[str, float]]] = {}
    for sup, seed in runs:
        run_dir = out / "runs" / sup / f"seed{seed}"
        cfg = resolve_config(preset, overrides or {}, {"supervision": sup, "seed": seed})
        summary = run_dir / "summary.json"
        finished = summary.exists() and json.loads(summary.read_text()).get("finished")
        if not (finished and (run_dir / "averages.json").exists()):
            shutil.rmtree(run_dir, ignore_errors=True)
            train(cfg, data, run_dir, cache_dir=out / "cache",
                  callbacks=[trace_callback(dataset, run_dir / "test_trace.jsonl", cfg.precision),
                             WeightAverages(dataset, run_dir / "averages.json", cfg.precision)])
        per_run[(sup, seed)] = _choices(run_dir)
        if on_run:
            on_run(f"{sup}/seed{seed}")
    return (*_write_tables(out, per_run, supervisions), _plot(out, per_run))


def _row_names() -> list[str]:
    """The study's rows, in order: the rules, the variants, the averages, the references."""
    return [*SELECTION_RULES, NO_GATE, LATER_TIES, BCE_TIES, *AVERAGES, *REFERENCES]


def _write_tables(out: Path, per_run, supervisions) -> tuple[Path, Path]:
    names = _row_names()
    rows = []
    for sup in supervisions:
        for name in names:
            picks = [choices[name] for (s, _), choices in sorted(per_run.items()) if s == sup]
            row: dict[str, Any] = {"supervision": sup, "rule": name, "n": len(picks),
                                   "step_mean": float(np.mean([p["step"] for p in picks]))}
            for metric in METRICS:
                row[f"{metric}_mean"], row[f"{metric}_std"] = seed_mean_std([100 * p[metric] for p in picks])
            rows.append(row)
    write_csv(out / "selection.csv", rows)
    seeds = rows[0]["n"]
    lines = [f"# Checkpoint selection: test metrics of the chosen checkpoint, mean ± std over {seeds} seed(s), in %",
             "", "| supervision | rule | mean step | AUC | AUC_A | FAR |", "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[f'{m}_mean']:.2f} ± {r[f'{m}_std']:.2f}" for m in METRICS]
        lines.append(f"| {r['supervision']} | {r['rule']} | {r['step_mean']:.0f} | " + " | ".join(cells) + " |")
    with atomic_write(out / "selection.md", "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return out / "selection.csv", out / "selection.md"


def _plot(out: Path, per_run) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(per_run)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3), sharey=True, squeeze=False)
    markers = dict(zip(_row_names(), "o^sDPv<>*hXx", strict=True))
    for ax, key in zip(axes[0], keys, strict=True):
        trace = read_jsonl(out / "runs" / key[0] / f"seed{key[1]}" / "test_trace.jsonl")
        ax.plot([r["step"] for r in trace], [100 * r["auc"] for r in trace], color="0.6")
        for name, pick in per_run[key].items():
            ax.scatter([pick["step"]], [100 * pick["auc"]], marker=markers[name], label=name, zorder=3)
        ax.set_title(f"{key[0]}, seed {key[1]}", fontsize=9)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("test AUC (%)")
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    return save_figure(fig, out / "selection.png", dpi=100)

