"""What a training run does around its steps, as callbacks: logging, selection, checkpoints, progress.

The loop (:meth:`glancevad.engine.trainer.Trainer.fit`) trains and validates; everything else
hangs on a :class:`~glancevad.engine.trainer.Callback` (its hooks are documented there), called on
rank 0 only, in list order. A callback must not change the model. A new logger is one class with
``on_log`` and ``on_validation_end`` (see :class:`JsonLinesLogger`) and one entry in
:data:`LOGGERS`; :func:`default_callbacks` is what ``train`` uses. Order matters once:
:class:`ModelSelection` sets ``trainer.best`` before :class:`Checkpointing` writes it into
``last.pt`` and links ``best.pt``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from glancevad.checkpoint_selection import SELECTION_RULES, TIEBREAKS, selection_key, selection_value
from glancevad.engine.checkpoint import link_checkpoint, save_checkpoint
from glancevad.engine.trainer import Callback, Trainer


class JsonLinesLogger(Callback):
    """``metrics.jsonl``: a line of losses per log step, a line of ``val_*`` scores per validation."""

    def __init__(self, path: str | Path):
        self.path, self.handle = Path(path), None

    def on_fit_start(self, trainer: Trainer) -> None:
        self.handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in on_fit_end)

    def _write(self, record: dict[str, Any]) -> None:
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()

    def on_log(self, trainer: Trainer, step: int, values: dict[str, float]) -> None:
        self._write({"step": step, **values})

    def on_validation_end(self, trainer: Trainer, step: int, scores: dict[str, float]) -> None:
        self._write({"step": step, **{f"val_{k}": v for k, v in scores.items()}})

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.handle is not None:
            self.handle.close()


class TensorBoardLogger(Callback):
    """``tb/``: ``train/*`` and ``val/*`` scalars; a resumed run purges the steps after its checkpoint."""

    def __init__(self, folder: str | Path):
        self.folder, self.writer = Path(folder), None

    def on_fit_start(self, trainer: Trainer) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.folder), purge_step=trainer.step + 1 if trainer.step else None)

    def on_log(self, trainer: Trainer, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(f"train/{key}", value, step)

    def on_validation_end(self, trainer: Trainer, step: int, scores: dict[str, float]) -> None:
        for key, value in scores.items():
            self.writer.add_scalar(f"val/{key}", value, step)

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.writer is not None:
            self.writer.close()


class ModelSelection(Callback):
    """Keeps ``trainer.best``: the validated checkpoint the run's selection rule ranks first.

    Without validation videos every checkpoint is the best (``best.pt`` is ``last.pt``). Otherwise
    a checkpoint must be eligible (see :func:`glancevad.checkpoint_selection.first_eligible_step`) and beat the
    best so far; the last step of a run that never reached an eligible one is taken, and the record
    says so (``fallback``). The record also counts the eligible evaluations that tied at the chosen
    value (``ties``, the chosen one included; ``selection_tiebreak`` chose among them) and whether that value is
    the rule's ceiling (``at_ceiling``: validation saturated, it can no longer tell checkpoints apart).
    """

    def on_validation_end(self, trainer: Trainer, step: int, scores: dict[str, float]) -> None:
        cfg, best = trainer.cfg, trainer.best
        if len(trainer.val_idx) == 0:
            trainer.best = {"score": None, "step": step, "rule": "last (no validation videos)", **scores}
            return
        value = selection_value(scores, cfg.selection_rule)
        # a fallback record counts as none: the first eligible checkpoint replaces it when a run is extended
        has_best = best["step"] is not None and not best.get("fallback")
        if step >= trainer.first_eligible:
            key = selection_key(step, scores, cfg.selection_rule, cfg.selection_tiebreak)
            tied = has_best and value == best["score"]
            if not has_best or key > selection_key(best["step"], best, cfg.selection_rule, cfg.selection_tiebreak):
                ceiling = SELECTION_RULES[cfg.selection_rule].ceiling
                trainer.best = {"score": value, "step": step, "rule": cfg.selection_rule,
                                "tiebreak": cfg.selection_tiebreak, **scores,
                                "ties": best.get("ties", 1) + 1 if tied else 1,
                                "at_ceiling": ceiling is not None and value >= ceiling}
            elif tied:
                best["ties"] = best.get("ties", 1) + 1
        elif step == cfg.steps and best["step"] is None:
            trainer.best = {"score": value, "step": step, "rule": cfg.selection_rule, "fallback": True, **scores}

    @staticmethod
    def describe(trainer: Trainer) -> str:
        """What ``best.pt`` is, in words, for ``summary.json`` and the reports."""
        if len(trainer.val_idx) == 0:
            return ("best.pt: the last checkpoint (val_fraction 0: every training video trains); "
                    "last.pt: the last step")
        eligible = (f", among checkpoints from step {trainer.first_eligible} on (after mining started)"
                    if trainer.first_eligible > 1 else "")
        rule = SELECTION_RULES[trainer.cfg.selection_rule].description
        ties = TIEBREAKS[trainer.cfg.selection_tiebreak]
        return (f"best.pt: {rule}, {ties}, on {len(trainer.val_idx)} held-out training videos{eligible}; "
                "last.pt: the last step")

    @staticmethod
    def ties_note(best: dict[str, Any]) -> str | None:
        """One line when evaluations tied at the chosen value (``None`` otherwise): how many, whether
        validation sat at the rule's ceiling, and how ``best.pt`` was chosen among them."""
        ties = best.get("ties", 1)
        if ties <= 1:
            return None
        where = " (the rule's ceiling: validation saturated)" if best.get("at_ceiling") else ""
        how = {"heldout_bce": "the lowest held-out BCE among them", "later": "the latest of them"}.get(
            best.get("tiebreak", "earlier"), "the earliest of them")
        return (f"{ties} evaluations tied at the chosen value {best['score']:.4f}{where}; best.pt is {how}, "
                f"step {best['step']}")


class Checkpointing(Callback):
    """``last.pt`` at every validation (atomically), and ``best.pt`` linked to it when it became the best."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)

    def on_validation_end(self, trainer: Trainer, step: int, scores: dict[str, float]) -> None:
        last = save_checkpoint(self.run_dir / "last.pt", trainer.checkpoint_payload())
        if trainer.best.get("step") == step:
            link_checkpoint(last, self.run_dir / "best.pt")


class ProgressBar(Callback):
    """The step bar of a rich ``Progress`` (with the current loss)."""

    def __init__(self, progress: Any):
        self.progress, self.task = progress, None

    def on_fit_start(self, trainer: Trainer) -> None:
        cfg = trainer.cfg
        self.task = self.progress.add_task(f"training {cfg.model}/{cfg.supervision}", total=cfg.steps,
                                           completed=trainer.step, info="")

    def on_step_end(self, trainer: Trainer, step: int, values: dict[str, float]) -> None:
        self.progress.update(self.task, completed=step, info=f"loss {values['loss']:.3f}")


class OnValidation(Callback):
    """Calls ``hook(step, model, scores)`` after each validation (studies of selection trace the test set here)."""

    def __init__(self, hook: Callable[[int, torch.nn.Module, dict[str, float]], None]):
        self.hook = hook

    def on_validation_end(self, trainer: Trainer, step: int, scores: dict[str, float]) -> None:
        self.hook(step, trainer.model, scores)


#: The loggers every run writes, by name: ``name -> (run folder -> callback)``. A new logger is one
#: entry here (``train``, the grids and ``glancevad paper`` all log through it).
LOGGERS: dict[str, Callable[[Path], Callback]] = {
    "jsonl": lambda run_dir: JsonLinesLogger(run_dir / "metrics.jsonl"),
    "tensorboard": lambda run_dir: TensorBoardLogger(run_dir / "tb"),
}


def default_callbacks(run_dir: str | Path, progress: Any = None) -> list[Callback]:
    """What every ``train`` run has: the :data:`LOGGERS`, selection, checkpoints and, given one, a progress bar."""
    run_dir = Path(run_dir)
    callbacks = [make(run_dir) for make in LOGGERS.values()] + [ModelSelection(), Checkpointing(run_dir)]
    return callbacks + ([ProgressBar(progress)] if progress is not None else [])
