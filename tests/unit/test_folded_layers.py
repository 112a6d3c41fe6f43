"""The exact algebra of the fast training step, each piece against the formula it replaces.

GL-MHSA's local branch folded into one ``dim x dim`` map, UR-DMU's memory reads through the
encoded prototypes, the temporal convolution as one product over stacked taps, and dropout's mask
from 16-bit lanes of random words: outputs and gradients of every parameter equal the released
formula's to float32 rounding (fp32, stated tolerances), and the parameters keep their names.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from glancevad.layers.attention import GlobalLocalAttention
from glancevad.layers.dropout import keep_mask
from glancevad.layers.temporal import TemporalConv
from glancevad.models import build, get_spec

#: float32 sums in another order: relative to the largest element of each tensor
RELATIVE = 1e-5


def _close(ours: torch.Tensor, released: torch.Tensor, what: str) -> None:
    scale = float(released.detach().abs().max()) or 1.0
    assert float((ours - released).detach().abs().max()) <= RELATIVE * scale, what


def _gradients(output: torch.Tensor, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    weights = torch.linspace(-1, 1, output.numel()).reshape(output.shape)   # not a symmetric loss
    return torch.autograd.grad((output * weights).sum(), inputs)


@pytest.mark.parametrize("heads, head_dim, length", [(4, 128, 200), (2, 8, 1), (3, 5, 17)])
def test_folded_local_branch_equals_the_released_attention(heads, head_dim, length):
    torch.manual_seed(0)
    layer = GlobalLocalAttention(24, heads, head_dim, dropout=0.0).train()
    x = torch.randn(3, length, 24, requires_grad=True)
    inputs = [x, *layer.parameters()]
    ours, released = layer.forward_folded(x), layer.forward_unfolded(x)
    _close(ours, released, "output")
    for name, a, b in zip(["x", *dict(layer.named_parameters())], _gradients(ours, inputs),
                          _gradients(released, inputs), strict=True):
        _close(a, b, f"gradient of {name}")
    assert sorted(dict(layer.named_parameters())) == ["to_out.0.bias", "to_out.0.weight", "to_qkv.weight"]
    # forward folds only where that saves arithmetic: 2 x snippets >= dim (24 here)
    called = []
    layer.forward_folded = lambda t: called.append("folded") or released
    layer.forward_unfolded = lambda t: called.append("unfolded") or released
    layer(x)
    assert called == ["folded" if 2 * 3 * length >= 24 else "unfolded"]


def _released_urdmu_train_forward(model, x):
    """UR-DMU's memory branch as released: ``att M`` built and passed through the encoders."""
    h = model.self_attn(model.embedding(x))
    half = x.shape[0] // 2
    mu, var = model.encoder_mu, model.encoder_var
    reads = {}
    for memory_name, memory in (("A", model.Amemory), ("N", model.Nmemory)):
        score, attention = memory(h)
        reads[memory_name] = score, memory.augmentation(attention)
    (a_score, a_aug), (n_score, n_aug) = reads["A"], reads["N"]
    k = h.shape[1] // 16 + 1
    a_index = a_score[half:].topk(k, dim=-1).indices
    n_index = n_score[:half].topk(k, dim=-1).indices

    def mean_at(features, index):
        return torch.stack([features[i, index[i]].mean(0) for i in range(len(index))])

    n_mu, n_logvar = mu(n_aug[:half]), var(n_aug[:half])
    n_sampled = n_mu + torch.randn_like(n_mu) * torch.exp(n_logvar).sqrt()
    negative_new = mu(mean_at(a_aug[half:], a_index))
    anchor_new = mean_at(n_sampled, n_index)
    augmentation = torch.cat([n_sampled + mu(a_aug[:half]), mu(a_aug[half:]) + mu(n_aug[half:])])
    scores = model.cls_head.mlp(torch.cat([h, augmentation], dim=-1)).squeeze(-1)
    kl = torch.mean(-0.5 * torch.sum(1 + n_logvar - n_mu**2 - n_logvar.exp(), dim=1))
    distance = torch.relu(100 - negative_new.norm(dim=-1) + anchor_new.norm(dim=-1)).mean()
    return scores, kl, distance


def test_memory_reads_through_encoded_prototypes_equal_the_released_reads():
    torch.manual_seed(0)
    model = build("urdmu", in_dim=32, dropout=0.0).train()
    x = torch.rand(4, 40, 32)
    torch.manual_seed(1)
    ours = model(x)
    torch.manual_seed(1)   # the same reparameterisation noise
    scores, kl, distance = _released_urdmu_train_forward(model, x)
    _close(ours["scores"], scores, "scores")
    _close(ours["kl"], kl, "kl")
    _close(ours["distance"], distance, "distance")
    params = list(model.parameters())
    ours_loss = ours["scores"].square().sum() + ours["kl"] + ours["distance"]
    released_loss = scores.square().sum() + kl + distance
    for (name, _), a, b in zip(model.named_parameters(), torch.autograd.grad(ours_loss, params, allow_unused=True),
                               torch.autograd.grad(released_loss, params, allow_unused=True), strict=True):
        if b is None:
            assert a is None or not a.any(), name
        else:
            _close(a, b, f"gradient of {name}")
    # the test-time forward: encoder_mu(a_aug) + encoder_mu(n_aug) next to h, through the head
    model.eval()
    with torch.no_grad():
        h = model.self_attn(model.embedding(x))
        augmentation = sum(model.encoder_mu(m.augmentation(m(h)[1])) for m in (model.Amemory, model.Nmemory))
        _close(model(x), model.cls_head.mlp(torch.cat([h, augmentation], -1)).squeeze(-1), "test-time scores")


@pytest.mark.parametrize("kernel, length", [(3, 50), (3, 1), (3, 2), (5, 7), (1, 4)])
def test_temporal_conv_as_one_product_equals_conv1d(kernel, length):
    torch.manual_seed(0)
    layer = TemporalConv(16, 8, kernel)
    x = torch.randn(3, length, 16)
    released = F.relu(layer.conv_1[0](x.transpose(1, 2))).transpose(1, 2)
    ours = layer(x)
    _close(ours, released, "output")
    params = list(layer.parameters())
    for a, b in zip(_gradients(ours, params), _gradients(released, params), strict=True):
        _close(a, b, "gradient")
    with pytest.raises(ValueError, match="odd"):
        TemporalConv(16, 8, 2)


def test_urdmu_glance_loss_and_gradients_are_finite_at_length_one():
    torch.manual_seed(0)
    model = build("urdmu", in_dim=8).train()
    outputs = model(torch.rand(2, 1, 8))
    loss, _ = get_spec("urdmu").base_loss(outputs, torch.ones(1))
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("p", [0.5, 0.7, 0.1])
def test_keep_mask_keeps_each_lane_with_probability_one_minus_p(p):
    torch.manual_seed(0)
    count = 1_000_000
    mask = keep_mask((count // 4, 4), p)    # column j: lane j of each 64-bit word
    sigma = math.sqrt(p * (1 - p) / (count // 4))
    for lane in range(4):   # no lane biased (a 63-bit range would leave one lane's top bit at 0)
        assert abs(float(mask[:, lane].float().mean()) - (1 - p)) < 5 * sigma, lane
    assert keep_mask((3, 5, 7), p).shape == (3, 5, 7)
