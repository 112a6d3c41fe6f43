"""Crop sampling at the UCF-Crime shape: a UR-DMU step on single-crop items vs crop-averaged videos.

B = 64 normal + 64 abnormal, 10 crops, N = 200, D = 1024. ``item`` (as released) feeds
``[128, 200, 1024]``; ``average`` feeds ``[128, 10, 200, 1024]`` and averages the crops' scores.
Each step is the base loss plus the glance BCE (L_abn) against TGS targets mined from the scores,
as in ``Trainer.train_step``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.common import Result, best_time, precisions
from glancevad.engine.scoring import autocast
from glancevad.models import build, get_spec
from glancevad.tgs import mine, render


def glance_step_time(mode: str, precision: str, *, batch: int = 64, crops: int = 10, length: int = 200,
                     dim: int = 1024) -> float:
    """Best seconds of one UR-DMU glance-supervised optimiser step under ``mode``."""
    torch.manual_seed(0)
    model = build("urdmu", in_dim=dim).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    shape = (2 * batch, length, dim) if mode == "item" else (2 * batch, crops, length, dim)
    x = torch.rand(shape)
    glances = torch.zeros(batch, length)
    glances[torch.arange(batch), torch.randint(0, length, (batch,))] = 1
    device = torch.device("cpu")

    def step():
        with autocast(device, precision):
            outputs = model(x)
        outputs = {k: v.float() for k, v in outputs.items()}
        base, _ = get_spec("urdmu").base_loss(outputs, torch.zeros(batch))
        scores = outputs["scores"][batch:]
        targets = render(mine(scores.detach(), glances, alpha=0.9), kernel="normal", width=0.1, combine="max")
        loss = base + F.binary_cross_entropy(scores, targets.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return best_time(step, repeat=1 if mode == "average" else 2)


def run() -> list[Result]:
    results = []
    for precision in precisions():
        item = glance_step_time("item", precision)
        average = glance_step_time("average", precision)
        results.append(Result(f"UR-DMU glance step, UCF shape (64+64, 10 crops, N=200, D=1024), {precision}: "
                              "crop_sampling item", item, "s", f"average: {average:.1f} s", average / item,
                              "faster (goal >= 5x)"))
    return results
