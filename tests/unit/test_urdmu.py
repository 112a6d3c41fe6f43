"""UR-DMU: parity with the authors' release, the training contract, losses and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import FIXTURES, needs_fixture
from glancevad.errors import GlanceVADError
from glancevad.models import build, get_spec, infer_from_state_dict, list_models, load_weights

OFFICIAL = FIXTURES / "official-urdmu"
needs_release = needs_fixture("official-urdmu", "urdmu_official_keys.pth")


def _official():
    state = torch.load(OFFICIAL / "urdmu_official_keys.pth", weights_only=True)
    name, kwargs = infer_from_state_dict(state)
    model = build(name, **kwargs)
    load_weights(model, state, source="fixture")
    return model.eval()


@needs_release
def test_official_state_dict_loads_strictly_and_reproduces_scores():
    model = _official()
    io = np.load(OFFICIAL / "io.npz")
    with torch.no_grad():
        crops = model(torch.from_numpy(io["x_crops"]))
        single = model(torch.from_numpy(io["x"]))
    assert crops.shape == (2, 150) and single.shape == (3, 200)
    np.testing.assert_allclose(crops.numpy(), io["scores_crops"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(single.numpy(), io["scores"], atol=1e-5, rtol=0)


def test_registry_lists_and_rejects():
    assert "urdmu" in list_models()
    with pytest.raises(GlanceVADError, match="unknown model 'resnet'; registered models: .*urdmu"):
        build("resnet")
    with pytest.raises(GlanceVADError, match="model 'urdmu'"):
        build("urdmu", colour=3)


@needs_release
def test_checkpoint_of_another_dimension_is_one_clear_error():
    state = torch.load(OFFICIAL / "urdmu_official_keys.pth", weights_only=True)
    model = build("urdmu", in_dim=2048)
    with pytest.raises(GlanceVADError, match=r"shape mismatch: embedding.conv_1.0.weight: checkpoint \(512, 1024, 3\)"):
        load_weights(model, state, source="ckpt")
    partial = {k: v for k, v in state.items() if not k.startswith("Amemory")}
    partial["extra.weight"] = torch.zeros(1)
    with pytest.raises(GlanceVADError, match="missing keys: Amemory.memory_block.*unexpected keys: extra.weight"):
        load_weights(build("urdmu"), partial, source="ckpt")


def test_train_mode_contract_and_gradients():
    torch.manual_seed(0)
    model = build("urdmu", in_dim=32).train()
    x = torch.rand(4, 3, 40, 32)  # 2 normal + 2 abnormal videos, 3 crops
    outputs = model(x)
    assert outputs["scores"].shape == (4, 40)
    assert outputs["A_att"].shape == (2, 40)
    loss, terms = get_spec("urdmu").base_loss(outputs, torch.tensor([1.0, 0.0]))
    assert set(terms) >= {"mil_abnormal", "mil_normal", "triplet", "kl", "distance"}
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    with pytest.raises(ValueError, match="even size"):
        model(torch.rand(3, 40, 32))


def test_abnormal_mil_weight_scales_only_the_abnormal_term():
    torch.manual_seed(0)
    model = build("urdmu", in_dim=16).train()
    outputs = model(torch.rand(4, 30, 16))
    spec = get_spec("urdmu")
    full, t1 = spec.base_loss(outputs, torch.ones(2))
    off, t0 = spec.base_loss(outputs, torch.zeros(2))
    assert t0["mil_abnormal"] == 0 and t1["mil_abnormal"] > 0
    assert float((full - off).detach()) == pytest.approx(t1["mil_abnormal"], rel=1e-5)
