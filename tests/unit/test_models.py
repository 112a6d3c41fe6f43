"""Every registered network, through the registry: contract, gradients, learning, checkpoints."""

from __future__ import annotations

import pytest
import torch

from glancevad.engine.checkpoint import read_checkpoint, save_checkpoint
from glancevad.models import build, get_spec, infer_from_state_dict, list_models, load_weights

MODELS = list_models()


def test_registry_holds_the_three_networks():
    assert set(MODELS) >= {"mil", "rtfm", "urdmu"}
    assert all(get_spec(name).description for name in MODELS)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dim", [1024, 2048])
def test_shapes_and_gradients(name, dim):
    torch.manual_seed(0)
    model = build(name, in_dim=dim).train()
    outputs = model(torch.rand(4, 2, 24, dim))  # 2 normal + 2 abnormal videos, 2 crops
    assert outputs["scores"].shape == (4, 24)
    assert ((outputs["scores"] > 0) & (outputs["scores"] < 1)).all()
    loss, terms = get_spec(name).base_loss(outputs, torch.ones(2))
    assert torch.isfinite(loss) and {"mil_abnormal", "mil_normal"} <= set(terms)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(3, 17, dim)).shape == (3, 17)
        assert model(torch.rand(2, 5, 17, dim)).shape == (2, 17)


@pytest.mark.parametrize("name", MODELS)
def test_training_batch_must_pair_normal_and_abnormal(name):
    with pytest.raises(ValueError, match="even size"):
        build(name, in_dim=16).train()(torch.rand(3, 20, 16))


@pytest.mark.parametrize("name", MODELS)
def test_abnormal_weight_switches_the_abnormal_video_term(name):
    torch.manual_seed(0)
    outputs = build(name, in_dim=16).train()(torch.rand(4, 30, 16))
    _, on = get_spec(name).base_loss(outputs, torch.ones(2))
    _, off = get_spec(name).base_loss(outputs, torch.zeros(2))
    assert off["mil_abnormal"] == 0 and on["mil_abnormal"] > 0
    assert off["mil_normal"] == on["mil_normal"]


@pytest.mark.parametrize("name", MODELS)
def test_base_loss_decreases_on_a_tiny_batch(name):
    torch.manual_seed(0)
    model = build(name, in_dim=16, dropout=0.0).train()
    normal = torch.rand(2, 24, 16)
    abnormal = torch.rand(2, 24, 16)
    abnormal[:, 10:14] += 2.0
    x = torch.cat([normal, abnormal])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(40):
        torch.manual_seed(1)
        loss, _ = get_spec(name).base_loss(model(x), torch.ones(2))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0], (losses[0], losses[-1])


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_reloads_to_identical_scores(name, tmp_path):
    torch.manual_seed(0)
    model = build(name, in_dim=32)
    model.train()(torch.rand(4, 20, 32))  # move batch-norm statistics away from their defaults
    model.eval()
    x = torch.rand(2, 2, 30, 32)
    save_checkpoint(tmp_path / "c.pt", {"model_state": model.state_dict(), "model_name": name,
                                        "model_kwargs": {"in_dim": 32}})
    state = read_checkpoint(tmp_path / "c.pt")
    again = build(state["model_name"], **state["model_kwargs"])
    load_weights(again, state["model_state"], source="c.pt")
    with torch.no_grad():
        assert torch.equal(model(x), again.eval()(x))
    # a bare state dict is recognised as this network
    inferred, kwargs = infer_from_state_dict(model.state_dict())
    assert inferred == name and kwargs["in_dim"] == 32


@pytest.mark.parametrize("name", MODELS)
def test_eval_scores_average_the_crops(name):
    torch.manual_seed(0)
    model = build(name, in_dim=8).eval()
    x = torch.rand(1, 3, 20, 8)
    with torch.no_grad():
        per_crop = torch.stack([model(x[:, c]) for c in range(3)]).mean(0)
        torch.testing.assert_close(model(x), per_crop)
