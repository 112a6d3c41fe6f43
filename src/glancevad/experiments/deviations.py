"""This project's training settings against the paper's text and the authors' release.

Our side is read from what a run would use (the preset, the budget's steps, the data's crops and
feature dimension); the other two columns are the facts of ``reference_settings.yaml``. A second
table lists each network's loss settings (``ModelSpec.loss_settings``: RTFM's, MIL's) against the
paper and that network's own release, read from the settings' declarations. ``glancevad paper``
writes both as ``deviations.json`` and ``deviations.md`` beside its report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from glancevad.fileio import atomic_write

#: Row order and names of the table.
SETTINGS = {"batch": "batch", "num_snippets": "N (snippets per training video)", "crops": "crops",
            "feature_dim": "feature dimension", "min_mining_step": "min_mining_step", "precision": "precision",
            "steps": "steps", "validation": "validation split", "weight_decay": "weight decay",
            "selection": "checkpoint selection", "abnormal_mil_weight": "abnormal MIL weight (glance videos)",
            "mining_scores": "scores mining walks on"}

#: what each ``mining_scores`` value means in the table
MINING_SCORES_WORDS = {"train": "the training forward's (through dropout)",
                       "eval": "a forward without dropout (eval mode, no gradient)"}

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
        "selection": f"best.pt: {cfg.selection_rule} on the validation split, ties by {cfg.selection_tiebreak}; "
                     "last.pt reported beside it",
        "abnormal_mil_weight": f"{cfg.abnormal_mil_weight:g} (every network)",
        "mining_scores": mining_words(cfg.mining_scores),
    }


def mining_words(choice: str) -> str:
    """What ``mining_scores`` means in the table; ``auto`` spelt out per network."""
    from glancevad.models import get_spec, list_models

    if choice != "auto":
        return MINING_SCORES_WORDS[choice]
    return "auto: " + "; ".join(f"{get_spec(name).label}: {MINING_SCORES_WORDS[get_spec(name).mining_scores]}"
                                for name in list_models())


def deviation_rows(ours: dict[str, str]) -> list[dict[str, str]]:
    """``[{setting, ours, paper, release}]`` in :data:`SETTINGS` order."""
    reference = reference_settings()
    return [{"setting": name, "ours": ours[key], "paper": reference[key]["paper"],
             "release": reference[key]["release"]} for key, name in SETTINGS.items()]


def _choice_words(field: dataclasses.Field, value: Any) -> str:
    """A loss setting's value as the table shows it: the value, and what it means where its choices say."""
    choices = getattr(field.metadata.get("constraint"), "names", None)
    meaning = choices.get(value) if isinstance(choices, Mapping) else None
    meaning = meaning[-1] if isinstance(meaning, tuple) else meaning
    if isinstance(meaning, str):
        return f"`{value}`: {meaning}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def network_rows(preset: str | None, budget: str, overrides: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """``[{setting, ours, paper, release}]``: the layers and every loss setting of every network
    whose loss has settings, as a run of that network at ``preset`` / ``budget`` uses them;
    ``release`` is the network's own."""
    from glancevad.config import resolve_config
    from glancevad.experiments.runner import BUDGETS
    from glancevad.models import get_spec, list_models

    rows = []
    for name in list_models():
        spec = get_spec(name)
        if spec.loss_settings is None:
            continue
        if spec.structure:
            rows.append(dict(zip(("setting", "ours", "paper", "release"), (f"{spec.label}: layers", *spec.structure),
                                 strict=True)))
        cfg = resolve_config(preset, BUDGETS[budget], overrides or {}, {"model": name})
        settings = cfg.loss_settings
        rows += [{"setting": f"{spec.label}: {f.metadata['meaning']} (`loss.{name}.{f.name}`)",
                  "ours": _choice_words(f, getattr(settings, f.name)),
                  "paper": f.metadata["paper"], "release": f.metadata["release"]}
                 for f in dataclasses.fields(settings)]
    return rows


def write_deviations_markdown(path, rows: list[dict[str, str]], networks: list[dict[str, str]] = ()) -> None:
    """The tables as markdown (what docs/paper.md shows): the training settings, then, when given,
    the networks' loss settings against each network's own release."""
    lines = ["| setting | this project | paper (text) | release (code) |", "|---|---|---|---|"]
    lines += [f"| {r['setting']} | {r['ours']} | {r['paper']} | {r['release']} |" for r in rows]
    if networks:
        lines += ["", "| network loss setting | this project | paper (text) | the network's release (code) |",
                  "|---|---|---|---|"]
        lines += [f"| {r['setting']} | {r['ours']} | {r['paper']} | {r['release']} |" for r in networks]
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
