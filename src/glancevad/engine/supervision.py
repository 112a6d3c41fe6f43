"""Supervision of abnormal training videos: who gets glances, and the glance targets.

``weak``: every abnormal video trains with its video label (the network's full base loss).
``glance``: every abnormal video trains with Temporal Gaussian Splatting targets (L_abn); its
video-level term is weighted by ``abnormal_mil_weight`` (0 as released).
``mixed``: a share of the abnormal videos keeps glances, another share is weak, the rest are not
used (paper Table 5: "weakly (part)", "glance (part)", "mixed").
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np
import torch
import torch.nn.functional as F

from glancevad.config import TrainConfig
from glancevad.errors import GlanceVADError
from glancevad.tgs import mine, render


class Role(IntEnum):
    """How an abnormal training video is supervised."""

    WEAK = 0      # its video label (the network's full base loss)
    GLANCE = 1    # its glances, through TGS targets (L_abn)


def assign_roles(
    abnormal: np.ndarray, has_glance: np.ndarray, cfg: TrainConfig, *, ids: list[str]
) -> dict[int, Role]:
    """Map each abnormal training video index to its Role (videos left out are absent).

    Only videos with glances can be GLANCE videos; under ``glance`` supervision an abnormal video
    without glances is an error naming it.
    """
    glance_share, weak_share = cfg.abnormal_split
    if glance_share > 0 and not has_glance[abnormal].any():
        raise GlanceVADError(
            f"supervision {cfg.supervision!r} needs glances, but no abnormal training video has one "
            "(check the glance CSV, or train with --supervision weak)"
        )
    if cfg.supervision == "glance":
        missing = [ids[i] for i in abnormal if not has_glance[i]]
        if missing:
            raise GlanceVADError(f"video {missing[0]} is abnormal but has no glance ({len(missing)} such videos)")
        return {int(i): Role.GLANCE for i in abnormal}
    if cfg.supervision == "weak":
        return {int(i): Role.WEAK for i in abnormal}
    rng = np.random.default_rng(cfg.seed + 1)
    order = rng.permutation(abnormal)
    glanced = [i for i in order if has_glance[i]]
    n_glance = int(round(glance_share * len(abnormal)))
    n_weak = int(round(weak_share * len(abnormal)))
    if n_glance > len(glanced):
        raise GlanceVADError(f"mixed supervision wants {n_glance} glance videos, only {len(glanced)} have glances")
    roles = {int(i): Role.GLANCE for i in glanced[:n_glance]}
    rest = [i for i in order if int(i) not in roles]
    roles.update({int(i): Role.WEAK for i in rest[:n_weak]})
    if not roles:
        raise GlanceVADError("mixed supervision with these fractions uses no abnormal video")
    return roles


@dataclass(frozen=True)
class TargetSettings:
    """How glances become targets: the TGS switches of the config (paper section 4, Table 3, Fig. 4)."""

    mining: bool = True
    min_mining_step: int = 50
    alpha: float = 0.9
    dynamic_threshold: bool = True
    fixed_threshold: float = 0.5
    gaussian: bool = True
    kernel: str = "normal"
    combine: str = "max"
    width: float = 0.1

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> TargetSettings:
        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)})

    def mines_at(self, step: int) -> bool:
        """Whether mining adds kernel centres at ``step``: mining on and the warm-up over."""
        return self.mining and step >= self.min_mining_step


def glance_centres(
    scores: torch.Tensor, glance_mask: torch.Tensor, step: int, settings: TargetSettings
) -> torch.Tensor:
    """Kernel centres ``(b, N)``, a 0/1 mask, for abnormal items with glances.

    The glances during warm-up (``step < min_mining_step``) or without mining, afterwards the
    glances plus the snippets mined from the current ``scores``.
    """
    if settings.mines_at(step):
        return mine(scores.detach().float(), glance_mask, alpha=settings.alpha,
                    dynamic=settings.dynamic_threshold, threshold=settings.fixed_threshold)
    return glance_mask


def centre_targets(centres: torch.Tensor, settings: TargetSettings) -> torch.Tensor:
    """Targets from kernel centres: the rendered kernels, or the centres themselves when ``gaussian``
    is off (binary targets)."""
    if not settings.gaussian:
        return centres.float()
    return render(centres, kernel=settings.kernel, width=settings.width, combine=settings.combine).float()


def glance_targets(
    scores: torch.Tensor, glance_mask: torch.Tensor, step: int, settings: TargetSettings
) -> torch.Tensor:
    """Targets ``(b, N)`` for abnormal items with glances: :func:`glance_centres`, then
    :func:`centre_targets`."""
    return centre_targets(glance_centres(scores, glance_mask, step, settings), settings)


def glance_loss(
    scores: torch.Tensor, targets: torch.Tensor, *, batch_items: int | None = None, world: int = 1,
) -> torch.Tensor:
    """``L_abn``: BCE between the scores ``(b, N)`` of glance-supervised items and their targets.

    On one process it is the mean over the ``b`` items. Under DDP each process holds a slice:
    ``batch_items`` is the number of glance-supervised items in the whole batch and ``world`` the
    number of processes, and the slice's share is scaled so that DDP's gradient average gives the
    gradient of the whole batch's mean.
    """
    if world == 1:
        return F.binary_cross_entropy(scores, targets)
    if not batch_items:
        raise ValueError("glance_loss under DDP needs the batch's number of glance items")
    return F.binary_cross_entropy(scores, targets, reduction="sum") * (world / (batch_items * scores.shape[-1]))
