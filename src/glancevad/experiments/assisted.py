"""The model-assisted glancing study (``glancevad experiment assisted``), on data with frame ground truth.

Per seed, on one synthetic dataset (``glancevad synth`` writes training ground truth too):

1. **weak**: UR-DMU (the preset's network) trained with video labels only.
2. **Selection criteria**: the weak model scores the abnormal training videos; each criterion of
   :mod:`glancevad.assist.ranking` is compared, by Spearman's correlation, with how badly the weak
   model localises each video (mean |frame score - frame label|, training ground truth): the
   criterion that best finds the videos the model gets wrong should pick the videos to glance.
3. **Label efficiency**: for each share of glanced abnormal videos (10, 25, 50 %), the videos are
   chosen at random or by ``select`` (the default criterion, from the weak model); the chosen
   videos train with their glances, the others with their video labels (``mixed`` supervision);
   100 % is plain glance supervision. Each run is tested (``best.pt``, selected on held-out
   training videos, never on the test set).
4. **Seek cost** on the abnormal *test* videos (:mod:`glancevad.assist.seek`): linear playback vs
   jumping to the peaks of the weak model and of the model trained on 25 % random glances.

The held-out validation videos keep their glances in every run (the trainer selects ``best.pt``
with them), so only the training share is chosen. Simulated glances are the dataset's own (one
frame per event). A view of the dataset (``data/``: links, plus a training list with a label
column) lets a glance file cover only some abnormal videos.

Folder::

    data/                         the view of the dataset
    glances/<strategy>-<pct>-seed<k>.csv
    runs/<cell>/seed<k>/          ordinary run folders, test/ as ``glancevad test`` writes it
    criteria.csv, label_efficiency.csv, seek_cost.csv, assisted.md
    label_efficiency.png, seek_cost.png
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from glancevad.assist.peaks import find_peaks
from glancevad.assist.ranking import CRITERIA, DEFAULT_CRITERION, localisation_error, rank_videos, spearman
from glancevad.assist.scoring import score_features
from glancevad.assist.seek import WINDOW_FRAMES, SeekCost, linear_cost, peak_cost, total
from glancevad.config import resolve_config
from glancevad.data.dataset import load_dataset
from glancevad.data.groundtruth import read_ground_truth
from glancevad.data.lists import write_video_list
from glancevad.errors import GlanceVADError
from glancevad.events import frame_scores
from glancevad.experiments.tables import seed_mean_std
from glancevad.fileio import atomic_write, save_figure, write_csv
from glancevad.glance import read_glances, write_glances
from glancevad.intervals import label_intervals

FRACTIONS = (0.1, 0.25, 0.5, 1.0)
STRATEGIES = ("random", "select")
SEEK_MODELS = {"weak": "video labels only", "random-25": "25 % glances (random videos)"}
FPS = 30.0
METRICS = ("auc", "auc_a")


def _view(dataset, out: Path) -> Path:
    """``out/data``: links to the dataset's files, and a training list that states each video's label."""
    view = out / "data"
    view.mkdir(parents=True, exist_ok=True)
    root = dataset.root.resolve()
    for entry in root.iterdir():
        if entry.name.endswith(".training.csv") or "glance" in entry.name:
            continue
        link = view / entry.name
        if not link.exists():
            os.symlink(entry, link)
    path = view / f"{dataset.name}.training.csv"
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["video-id", "label"])
        writer.writerows([v.id, v.label] for v in dataset.train)
    return view


def _glance_file(path: Path, glances: dict[str, tuple[int, ...]], ids: list[str]) -> str:
    write_glances(path, {vid: glances[vid] for vid in ids})
    return str(path)


def _abnormal_frame_scores(checkpoint: Path, root: Path, split: str, frames_per_snippet: int) -> dict[str, np.ndarray]:
    """Per-frame scores (``T * 16`` frames) of the abnormal videos of ``root``'s ``split`` by ``checkpoint``."""
    snippets = score_features(checkpoint, data=root, split=split, abnormal_only=True, device="cpu")
    return {vid: frame_scores(s, len(s) * frames_per_snippet, frames_per_snippet=frames_per_snippet)
            for vid, s in snippets.items()}


def seek_costs(frame_scores_by_video: dict[str, np.ndarray], ground_truth, *, fps: float = FPS,
               window: int = WINDOW_FRAMES) -> tuple[SeekCost, SeekCost]:
    """Total ``(linear, jump-to-peaks)`` seek cost over the videos (ground truth: 0/1 frame labels)."""
    linear, peaks = [], []
    for vid, scores in frame_scores_by_video.items():
        events = label_intervals(ground_truth[vid])
        found = [(p.peak_frame, p.peak_score) for p in find_peaks(scores, fps)]
        linear.append(linear_cost(events))
        peaks.append(peak_cost(events, found, len(scores), window=window))
    return total(linear), total(peaks)


def run_assisted_study(
    data: str | os.PathLike, out: str | os.PathLike, *, preset: str | None = "demo", seeds: int = 3,
    overrides: dict[str, Any] | None = None, fractions: tuple[float, ...] = FRACTIONS,
    criterion: str = DEFAULT_CRITERION, parallel: int = 1, on_plan: Callable[[int], None] | None = None,
    on_run: Callable[[Any], None] | None = None,
) -> tuple[Path, Path, Path]:
    """Run the study (module docstring); returns ``(label_efficiency.csv, assisted.md, label_efficiency.png)``.

    The weak runs of every seed go first, then every glance run (``parallel`` at once, as in a grid).
    """
    from glancevad.engine.items import split_validation
    from glancevad.experiments.runner import RunSpec, run_specs

    data, out = Path(data), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(data)
    train_gt_path = data / f"{dataset.name}_train_ground_truth.json"
    if dataset.ground_truth is None or not train_gt_path.exists() or dataset.glance_csv is None:
        raise GlanceVADError(f"{data}: the assisted study needs test and training ground truth and a glance CSV "
                             "(data from glancevad synth has them)")
    if criterion not in CRITERIA:
        raise GlanceVADError(f"unknown criterion {criterion!r}; criteria: {', '.join(CRITERIA)}")
    train_gt = read_ground_truth(train_gt_path)
    glances = read_glances(dataset.glance_csv)
    view = _view(dataset, out)
    base = resolve_config(preset, overrides or {})
    labels = np.array([v.label for v in dataset.train])
    partial = [f for f in fractions if f < 1]
    runs_per_seed = 1 + len(STRATEGIES) * len(partial) + (1 if 1.0 in fractions else 0)
    if on_plan:
        on_plan(runs_per_seed * seeds)

    def spec(key: str, seed: int, values: dict[str, Any]) -> RunSpec:
        cfg = resolve_config(preset, overrides or {}, values, {"seed": seed})
        return RunSpec(key, seed, cfg.to_dict(), str(view), str(out / "runs" / key / f"seed{seed}"), str(out / "cache"))

    results = run_specs([spec("weak", seed, {"supervision": "weak"}) for seed in range(seeds)], parallel=parallel,
                        on_run=on_run)
    criteria: list[dict[str, Any]] = []
    plans: list[tuple[int, float, str, int, str]] = []   # seed, fraction, strategy, videos, run key
    specs: list[RunSpec] = []
    for seed in range(seeds):
        train_idx, val_idx = split_validation(labels, base.val_fraction, seed)
        pool = [dataset.train[i].id for i in train_idx if labels[i]]
        held_out = [dataset.train[i].id for i in val_idx if labels[i]]
        weak_ckpt = out / "runs" / "weak" / f"seed{seed}" / "best.pt"
        scored = _abnormal_frame_scores(weak_ckpt, view, "train", dataset.frames_per_snippet)
        scored = {vid: scored[vid] for vid in pool}
        snippet = {vid: s[:: dataset.frames_per_snippet] for vid, s in scored.items()}
        errors = np.array([localisation_error(scored[vid], train_gt[vid]) for vid in pool])
        for name, fn in CRITERIA.items():
            values = np.array([fn(snippet[vid]) for vid in pool])
            criteria.append({"seed": seed, "criterion": name, "spearman": spearman(values, errors)})
        ranked = [vid for vid, _ in rank_videos(snippet, criterion=criterion)]
        order = {"random": [str(v) for v in np.random.default_rng(seed).permutation(pool)], "select": ranked}
        write_video_list(out / "glances" / f"select-order-seed{seed}.csv", ranked)
        for fraction in partial:
            k = int(round(fraction * len(pool)))
            for strategy in STRATEGIES:
                key = f"{strategy}-{round(100 * fraction)}"
                csv_path = _glance_file(out / "glances" / f"{key}-seed{seed}.csv", glances,
                                        order[strategy][:k] + held_out)
                specs.append(spec(key, seed, {"supervision": "mixed", "glance_fraction": k / len(pool),
                                              "weak_fraction": 1 - k / len(pool), "glance_csv": csv_path}))
                plans.append((seed, fraction, strategy, k, key))
        if 1.0 in fractions:
            specs.append(spec("all", seed, {"supervision": "glance", "glance_csv": str(dataset.glance_csv.resolve())}))
            plans += [(seed, 1.0, strategy, len(pool), "all") for strategy in STRATEGIES]
    results.update(run_specs(specs, parallel=parallel, on_run=on_run))

    efficiency = [{"seed": seed, "fraction": 0.0, "strategy": "none", "videos": 0,
                   **{m: results[("weak", seed)]["best"][m] for m in METRICS}} for seed in range(seeds)]
    efficiency += [{"seed": seed, "fraction": fraction, "strategy": strategy, "videos": k,
                    **{m: results[(key, seed)]["best"][m] for m in METRICS}}
                   for seed, fraction, strategy, k, key in plans]
    efficiency.sort(key=lambda r: r["seed"])  # stable: per seed in plan order
    seek: list[dict[str, Any]] = []
    test_abnormal = [v for v in dataset.test if v.label]
    for seed in range(seeds):
        for key in SEEK_MODELS:
            ckpt = out / "runs" / key / f"seed{seed}" / "best.pt"
            if not ckpt.exists():
                continue
            linear, peaks = seek_costs(_abnormal_frame_scores(ckpt, data, "test", dataset.frames_per_snippet),
                                       dataset.ground_truth)
            seek.append({"seed": seed, "model": key, "linear_frames": linear.frames, "peak_frames": peaks.frames,
                         "ratio": peaks.frames / max(linear.frames, 1), "events": peaks.events,
                         "found_at_peaks": peaks.found_at_peaks, "missed": peaks.missed})
    paths = [write_csv(out / "criteria.csv", criteria), write_csv(out / "label_efficiency.csv", efficiency),
             write_csv(out / "seek_cost.csv", seek)]
    md = _write_markdown(out / "assisted.md", efficiency, criteria, seek, seeds=seeds, criterion=criterion,
                         videos=len(test_abnormal))
    _plot_seek(out / "seek_cost.png", seek)
    return paths[1], md, _plot_efficiency(out / "label_efficiency.png", efficiency)


def _sample_std(values: list[float]) -> float:
    return seed_mean_std(values)[1]


def _mean_std(values: list[float]) -> str:
    mean, std = seed_mean_std(values)
    return f"{mean:.2f} ± {std:.2f}"


def summarise_efficiency(rows: list[dict[str, Any]]) -> list[tuple[float, str, int, dict[str, list[float]]]]:
    """``[(fraction, strategy, videos, {metric: [value per seed] in %})]`` in table order."""
    keys = sorted({(r["fraction"], r["strategy"]) for r in rows}, key=lambda k: (k[0], STRATEGIES.index(k[1])
                                                                                  if k[1] in STRATEGIES else -1))
    out = []
    for fraction, strategy in keys:
        picked = [r for r in rows if r["fraction"] == fraction and r["strategy"] == strategy]
        out.append((fraction, strategy, picked[0]["videos"], {m: [100 * r[m] for r in picked] for m in METRICS}))
    return out


def _write_markdown(path: Path, efficiency, criteria, seek, *, seeds: int, criterion: str, videos: int) -> Path:
    lines = [f"# Model-assisted glancing ({seeds} seed(s), mean ± std)", "",
             f"## Seek cost: frames watched to glance every event of the {videos} abnormal test videos", "",
             "| model whose peaks are followed | linear playback | jump to peaks | ratio | events found at peaks |"
             " missed (linear fallback) |", "|---|---|---|---|---|---|"]
    for key, label in SEEK_MODELS.items():
        rows = [r for r in seek if r["model"] == key]
        if rows:
            lines.append(f"| {label} | {_mean_std([r['linear_frames'] for r in rows])} | "
                         f"{_mean_std([r['peak_frames'] for r in rows])} | {_mean_std([r['ratio'] for r in rows])} | "
                         f"{_mean_std([r['found_at_peaks'] for r in rows])} of {rows[0]['events']} | "
                         f"{_mean_std([r['missed'] for r in rows])} |")
    lines += ["", "## Label efficiency: test metrics (%) vs share of glanced abnormal training videos", "",
              "| glanced | videos | chosen | AUC | AUC_A |", "|---|---|---|---|---|"]
    for fraction, strategy, count, values in summarise_efficiency(efficiency):
        chosen = {"none": "— (video labels only)", "select": f"select ({criterion})"}.get(strategy, strategy)
        lines.append(f"| {100 * fraction:g} % | {count} | {chosen} | {_mean_std(values['auc'])} | "
                     f"{_mean_std(values['auc_a'])} |")
    lines += ["", "## Selection criteria: Spearman correlation with the weak model's per-video localisation error",
              "", "| criterion | Spearman rho |", "|---|---|"]
    for name in CRITERIA:
        lines.append(f"| {name} | {_mean_std([r['spearman'] for r in criteria if r['criterion'] == name])} |")
    with atomic_write(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def _plot_efficiency(path: Path, efficiency) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarise_efficiency(efficiency)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, metric, title in zip(axes, METRICS, ("AUC", "AUC_A"), strict=True):
        for strategy, colour in zip(STRATEGIES, ("tab:grey", "tab:red"), strict=True):
            points = [(f, v[metric]) for f, s, _, v in summary if s in (strategy, "none")]
            xs = [100 * f for f, _ in points]
            ax.errorbar(xs, [np.mean(v) for _, v in points], yerr=[_sample_std(v) for _, v in points], marker="o",
                        capsize=3, color=colour, label=strategy)
        ax.set_xlabel("glanced abnormal training videos (%)")
        ax.set_ylabel(f"test {title} (%)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def _plot_seek(path: Path, seek) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    keys = [k for k in SEEK_MODELS if any(r["model"] == k for r in seek)]
    for i, key in enumerate(keys):
        rows = [r for r in seek if r["model"] == key]
        for j, (column, label, colour) in enumerate((("linear_frames", "linear playback", "tab:grey"),
                                                     ("peak_frames", "jump to peaks", "tab:red"))):
            values = [r[column] for r in rows]
            ax.bar(i + 0.38 * j, np.mean(values), 0.36, yerr=_sample_std(values), capsize=3, color=colour,
                   label=label if i == 0 else None)
    ax.set_xticks([i + 0.19 for i in range(len(keys))], [SEEK_MODELS[k] for k in keys], fontsize=8)
    ax.set_ylabel("frames watched")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
