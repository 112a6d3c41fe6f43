"""The trainer's optimised step against the plain reference step (glancevad.testing.reference_step).

Same weights, same batches, dropout off (its masks come from different random streams), the same
seed for UR-DMU's reparameterisation noise: over three steps in fp32 the loss agrees to 1e-5
(relative), every gradient to 1e-4 relative + 1e-6 absolute, and the weights after each Adam update
(fused against the per-parameter loop) to a tenth of the learning rate. The optimised networks
reorder sums (SDPA, one memory read for both halves, the affine encoder applied once to a sum),
so equality is to float32 rounding, not bitwise.
"""

from __future__ import annotations

import pytest
import torch

from glancevad.config import resolve_config
from glancevad.engine.trainer import Trainer
from glancevad.layers import Dropout
from glancevad.testing.reference_step import ReferenceStep

TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}


@pytest.mark.parametrize("name", ["mil", "rtfm", "urdmu"])
@pytest.mark.parametrize("supervision", ["glance", "weak"])
def test_optimised_step_equals_the_plain_step(tiny_root, tmp_path, name, supervision):
    cfg = resolve_config(None, {"model": name, "supervision": supervision, "batch_size": 4, "num_snippets": 32,
                                "min_mining_step": 0, "val_fraction": 0, "device": "cpu",
                                "model_kwargs": {"dropout": 0.0}})
    trainer = Trainer(cfg, tiny_root, tmp_path / "run", cache_dir=tmp_path / "cache")
    reference = ReferenceStep(trainer)   # the trainer's initial weights, its sampler's seed
    for step in range(3):   # later steps mine from the scores of the updated weights
        torch.manual_seed(step)
        plain = reference()
        torch.manual_seed(step)
        ours = trainer.train_step()
        torch.testing.assert_close(ours["loss"], plain["loss"], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(ours["loss_abn"], plain["loss_abn"], rtol=1e-5, atol=1e-7)
        for key, param in trainer.model.named_parameters():
            torch.testing.assert_close(param.grad, reference.params[key].grad, **TOLERANCE, msg=key)
            # Adam divides by sqrt(v) + 1e-8: a gradient element near 0 turns a 1e-9 difference into
            # a visible one in its update, bounded by the learning rate; a tenth of it is allowed
            torch.testing.assert_close(param.detach(), reference.params[key].detach(), rtol=1e-4,
                                       atol=0.1 * cfg.lr, msg=key)


def test_fast_dropout_keeps_the_distribution_and_scale():
    torch.manual_seed(0)
    layer = Dropout(0.7).train()
    x = torch.ones(400_000, requires_grad=True)
    y = layer(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.3) < 0.003        # 5 sigma of a binomial share
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.3))
    y.sum().backward()
    torch.testing.assert_close(x.grad, (kept.float() / 0.3))    # the same mask scales the gradient
    assert torch.equal(layer.eval()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))


@pytest.mark.slow
def test_compiled_step_equals_the_eager_step(tiny_root, tmp_path):
    """``compile: true`` (torch.compile of the training forward) trains the same maths: over two steps
    without dropout the losses and the weights agree with an eager trainer's to float32 rounding."""
    trainers = []
    for compiled in (False, True):
        cfg = resolve_config(None, {"model": "mil", "batch_size": 4, "num_snippets": 32, "min_mining_step": 0,
                                    "val_fraction": 0, "device": "cpu", "compile": compiled,
                                    "model_kwargs": {"dropout": 0.0}})
        trainers.append(Trainer(cfg, tiny_root, tmp_path / f"run-{compiled}", cache_dir=tmp_path / "cache"))
    eager, compiled = trainers
    assert compiled.step_model is not compiled.model
    for step in range(2):
        torch.manual_seed(step)
        expected = eager.train_step()
        torch.manual_seed(step)
        got = compiled.train_step()
        torch.testing.assert_close(got["loss"], expected["loss"], rtol=1e-5, atol=1e-7)
    for (key, a), b in zip(compiled.model.state_dict().items(), eager.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=key)
    assert compiled.timer.as_dict()["first_step_seconds"] > 0
