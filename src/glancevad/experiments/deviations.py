"""This project's training settings against the paper's text and the authors' release.

Our side is read from what a run would use (the preset, the budget's steps, the data's crops and
feature dimension); the other two columns are the facts of ``reference_settings.yaml``.
``glancevad paper`` writes the table as ``deviations.json`` and ``deviations.md`` beside its report.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from glancevad.fileio import atomic_write

#: Row order and names of the table.
SETTINGS = {"batch": "batch", "num_snippets": "N (snippets per training video)", "crops": "crops",
            "feature_dim": "feature dimension", "min_mining_step": "min_mining_step", "precision": "precision",
            "steps": "steps", "validation": "validation split", "weight_decay": "weight decay",
            "selection": "checkpoint selection"}

#: how a precision reads in the table (``auto`` differs by machine; the runs record what it chose)
PRECISION_WORDS = {"auto": "auto: bf16 where the hardware has bf16 units (AMX, a GPU), else fp32"}


def reference_settings() -> dict[str, dict[str, str]]:
    """The paper's and the release's values, per setting."""
    return yaml.safe_load((resources.files("glancevad.experiments") / "reference_settings.yaml").read_text())


def our_settings(preset: str | None, budget: str, *, crops: int, dim: int,
                 overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """What this project's runs use at ``preset`` and ``budget`` on data of ``crops`` x ``dim``."""
    from glancevad.config import resolve_config
    from glancevad.experiments.runner import BUDGETS, budget_steps

    cfg = resolve_config(preset, BUDGETS[budget], overrides or {})
    per_network = budget_steps(budget)
    steps = (", ".join(f"{m} {s}" for m, s in per_network.items()) if per_network and "steps" not in (overrides or {})
             else str(cfg.steps))
    unit = "single-crop items" if cfg.crop_sampling == "item" else "crop-averaged videos"
    held_out = (f"{cfg.val_fraction:.0%} of the training videos held out" if cfg.val_fraction
                else "none (every training video trains)")
    return {
        "batch": f"{cfg.batch_size} normal + {cfg.batch_size} abnormal {unit} per step",
        "num_snippets": str(cfg.num_snippets), "crops": str(crops), "feature_dim": str(dim),
        "min_mining_step": str(cfg.min_mining_step), "steps": steps,
        "precision": PRECISION_WORDS.get(cfg.precision, cfg.precision),
        "validation": held_out, "weight_decay": f"{cfg.weight_decay:.0e}".replace("e-0", "e-"),
        "selection": f"best.pt: {cfg.selection_rule} on the validation split; last.pt reported beside it",
    }


def deviation_rows(ours: dict[str, str]) -> list[dict[str, str]]:
    """``[{setting, ours, paper, release}]`` in :data:`SETTINGS` order."""
    reference = reference_settings()
    return [{"setting": name, "ours": ours[key], "paper": reference[key]["paper"],
             "release": reference[key]["release"]} for key, name in SETTINGS.items()]


def write_deviations_markdown(path, rows: list[dict[str, str]]) -> None:
    """The table as markdown (what docs/paper.md shows)."""
    lines = ["| setting | this project | paper (text) | release (code) |", "|---|---|---|---|"]
    lines += [f"| {r['setting']} | {r['ours']} | {r['paper']} | {r['release']} |" for r in rows]
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
