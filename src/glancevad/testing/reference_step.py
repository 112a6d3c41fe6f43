"""A plain training step: the maths of ``Trainer.train_step`` written the obvious way.

It is what the training benchmark measures the trainer against and what the parity test checks the
trainer's loss and gradients with; it is never what glancevad trains with. Each network is one
function over a dict of named tensors (the parameter names of glancevad's modules, so that
weights copy across), with ``torch.nn.functional`` calls in the order of the formulas: attention
through an explicit ``(T, T)`` softmax, ``F.dropout``, each of UR-DMU's four memory reads and
five encoder calls as the released code makes them; Adam loops over the parameters
(``foreach=False``). The data (sampling, cache reads), the TGS targets and the base losses are
glancevad's own — a few per cent of a step — so the comparison is about the network, the
optimiser and the host memory. One process only (no DDP).

The step itself sets nothing about host memory: it allocates however its process does. A
``Trainer`` on the CPU keeps freed memory for its whole process (``glancevad.engine.host_memory``),
so beside one (the parity test) the reference step runs that way too; the training benchmark
runs it in processes of its own that never change glibc's allocator settings, as plain code runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from glancevad.constants import topk_count
from glancevad.engine.sampler import PairedSampler
from glancevad.engine.scoring import autocast
from glancevad.engine.supervision import glance_targets
from glancevad.models.batch import crop_mean, flatten_crops

if TYPE_CHECKING:
    from glancevad.engine.trainer import Trainer

Tensors = Mapping[str, torch.Tensor]


def _conv(x: torch.Tensor, p: Tensors, name: str, **kw: Any) -> torch.Tensor:
    return F.conv1d(x, p[f"{name}.weight"], p.get(f"{name}.bias"), **kw)


def _linear(x: torch.Tensor, p: Tensors, name: str) -> torch.Tensor:
    return F.linear(x, p[f"{name}.weight"], p.get(f"{name}.bias"))


def _batch_norm(x: torch.Tensor, p: Tensors, b: Tensors, name: str, training: bool) -> torch.Tensor:
    return F.batch_norm(x, b[f"{name}.running_mean"], b[f"{name}.running_var"], p[f"{name}.weight"],
                        p[f"{name}.bias"], training, 0.1, 1e-5)


def plain_mil(p: Tensors, b: Tensors, x: torch.Tensor, *, training: bool, dropout: float) -> Any:
    """MIL: conv(k3), ReLU, dropout, conv(k3), ReLU, dropout, conv(k1), sigmoid."""
    flat, batch, crops = flatten_crops(x)
    h = F.dropout(F.relu(_conv(flat.transpose(1, 2), p, "encoder.0", padding=1)), dropout, training)
    h = F.dropout(F.relu(_conv(h, p, "head.0", padding=1)), dropout, training)
    scores = crop_mean(torch.sigmoid(_conv(h, p, "head.3")).squeeze(1), batch, crops)
    return {"scores": scores} if training else scores


def plain_rtfm(p: Tensors, b: Tensors, x: torch.Tensor, *, training: bool, dropout: float) -> Any:
    """RTFM: the dilated pyramid and the non-local branch, fused, residual; MLP head; top-k by magnitude."""
    flat, batch, crops = flatten_crops(x)
    h = flat.transpose(1, 2)
    pyramid = [_batch_norm(F.relu(_conv(h, p, f"mtn.conv_{i}.0", padding=d, dilation=d)), p, b, f"mtn.conv_{i}.2",
                           training) for i, d in ((1, 1), (2, 2), (3, 4))]
    c4 = F.relu(_conv(h, p, "mtn.conv_4.0"))
    g = _conv(c4, p, "mtn.non_local.g").transpose(1, 2)
    theta = _conv(c4, p, "mtn.non_local.theta").transpose(1, 2)
    phi = _conv(c4, p, "mtn.non_local.phi")
    y = ((theta @ phi / c4.shape[-1]) @ g).transpose(1, 2)
    non_local = c4 + _batch_norm(_conv(y, p, "mtn.non_local.W.0"), p, b, "mtn.non_local.W.1", training)
    fused = _batch_norm(F.relu(_conv(torch.cat([*pyramid, non_local], 1), p, "mtn.conv_5.0", padding=1)), p, b,
                        "mtn.conv_5.2", training)
    features = F.dropout((fused + h).transpose(1, 2), dropout, training)
    s = F.dropout(F.relu(_linear(features, p, "head.0")), dropout, training)
    s = F.dropout(F.relu(_linear(s, p, "head.3")), dropout, training)
    scores = crop_mean(torch.sigmoid(_linear(s, p, "head.6")).squeeze(-1), batch, crops)
    if not training:
        return scores
    magnitudes = crop_mean(features.norm(dim=-1), batch, crops)
    selection = F.dropout(torch.ones_like(magnitudes), dropout, training) * magnitudes
    return {"scores": scores, "features": features, "magnitudes": magnitudes, "selection": selection}


def _memory_read(memory: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    attention = torch.sigmoid(x @ memory.T / math.sqrt(memory.shape[1]))
    return attention.topk(memory.shape[0] // 16 + 1, dim=-1).values.mean(-1), attention @ memory


def _mean_at(features: torch.Tensor, index: torch.Tensor, batch: int, crops: int) -> torch.Tensor:
    rows = torch.arange(features.shape[0])[:, None]
    return crop_mean(features[rows, index].mean(1), batch, crops)


def plain_urdmu(p: Tensors, b: Tensors, x: torch.Tensor, *, training: bool, dropout: float, heads: int) -> Any:
    """UR-DMU as released: conv embedding, GL-MHSA blocks, dual memory, variational normal branch."""
    flat, batch, crops = flatten_crops(x)
    h = F.relu(_conv(flat.transpose(1, 2), p, "embedding.conv_1.0", padding=1)).transpose(1, 2)
    n, length, dim = h.shape
    position = torch.arange(1, length + 1, dtype=torch.float32)
    distance = torch.exp(-(position[None, :] - position[:, None]).abs() / math.e)
    distance = distance / distance.sum(-1)
    depth = len({key.split(".")[2] for key in p if key.startswith("self_attn.layers.")})
    for i in range(depth):
        pre = f"self_attn.layers.{i}"
        y = F.layer_norm(h, (dim,), p[f"{pre}.0.norm.weight"], p[f"{pre}.0.norm.bias"])
        q, k, v, t = (part.reshape(n, length, heads, -1).transpose(1, 2)
                      for part in F.linear(y, p[f"{pre}.0.fn.to_qkv.weight"]).chunk(4, dim=-1))
        attention = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        out = torch.cat([attention @ v, distance.to(t.dtype) @ t], dim=-1).transpose(1, 2).reshape(n, length, -1)
        h = F.dropout(_linear(out, p, f"{pre}.0.fn.to_out.0"), dropout, training) + h
        y = F.layer_norm(h, (dim,), p[f"{pre}.1.norm.weight"], p[f"{pre}.1.norm.bias"])
        y = F.dropout(F.gelu(_linear(y, p, f"{pre}.1.fn.net.0")), dropout, training)
        h = F.dropout(_linear(y, p, f"{pre}.1.fn.net.3"), dropout, training) + h

    def mu(z):
        return _linear(z, p, "encoder_mu.0")

    def score(z):
        return torch.sigmoid(_linear(F.relu(_linear(z, p, "cls_head.mlp.0")), p, "cls_head.mlp.2")).squeeze(-1)

    a_memory, n_memory = p["Amemory.memory_block"], p["Nmemory.memory_block"]
    if not training:
        a_aug, n_aug = _memory_read(a_memory, h)[1], _memory_read(n_memory, h)[1]
        return crop_mean(score(torch.cat([h, mu(a_aug) + mu(n_aug)], -1)), batch, crops)
    half = batch // 2
    normal, abnormal = h[: half * crops], h[half * crops:]
    a_att, a_aug = _memory_read(a_memory, abnormal)
    n_a_att, n_a_aug = _memory_read(n_memory, abnormal)
    a_n_att, a_n_aug = _memory_read(a_memory, normal)
    n_att, n_aug = _memory_read(n_memory, normal)
    kk = topk_count(length)
    a_index, n_index, p_index = (att.topk(kk, dim=-1).indices for att in (a_att, n_att, n_a_att))
    negative, anchor = _mean_at(abnormal, a_index, half, crops), _mean_at(normal, n_index, half, crops)
    positive = _mean_at(abnormal, p_index, half, crops)
    triplet = F.triplet_margin_loss(F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1),
                                    F.normalize(negative, dim=-1), margin=1.0)
    n_mu, n_logvar = mu(n_aug), _linear(n_aug, p, "encoder_var.0")
    n_aug_sampled = n_mu + torch.randn_like(n_mu) * torch.exp(n_logvar).sqrt()
    a_aug_mu = mu(a_aug)
    anchor_new, negative_new = _mean_at(n_aug_sampled, n_index, half, crops), _mean_at(a_aug_mu, a_index, half, crops)
    kl = torch.mean(-0.5 * torch.sum(1 + n_logvar - n_mu**2 - n_logvar.exp(), dim=1))
    distance_term = torch.relu(100 - negative_new.norm(dim=-1) + anchor_new.norm(dim=-1)).mean()
    augmentation = torch.cat([n_aug_sampled + mu(a_n_aug), a_aug_mu + mu(n_a_aug)])
    return {"scores": crop_mean(score(torch.cat([h, augmentation], -1)), batch, crops), "triplet": triplet,
            "kl": kl, "distance": distance_term, "A_att": crop_mean(a_att, half, crops),
            "N_att": crop_mean(n_att, half, crops), "A_Natt": crop_mean(a_n_att, half, crops),
            "N_Aatt": crop_mean(n_a_att, half, crops)}


#: network name -> its plain forward ``fn(params, buffers, x, training=..., **options)``
PLAIN_NETWORKS: dict[str, Callable[..., Any]] = {"mil": plain_mil, "rtfm": plain_rtfm, "urdmu": plain_urdmu}


def network_options(name: str, model: torch.nn.Module) -> dict[str, Any]:
    """The constructor settings a plain forward needs and cannot read from the weights."""
    dropouts = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    options: dict[str, Any] = {"dropout": dropouts[0] if dropouts else 0.0}
    if name == "urdmu":
        options["heads"] = model.self_attn.layers[0][0].fn.heads
    return options


class PlainModel:
    """A copy of a glancevad network's weights, run by its plain forward (for test-time throughput)."""

    def __init__(self, name: str, model: torch.nn.Module):
        self.forward = PLAIN_NETWORKS[name]
        self.params = {k: v.detach().clone().requires_grad_(v.requires_grad) for k, v in model.named_parameters()}
        self.buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
        self.options = network_options(name, model)

    def __call__(self, x: torch.Tensor, *, training: bool) -> Any:
        return self.forward(self.params, self.buffers, x, training=training, **self.options)


class ReferenceStep:
    """The plain step over a trainer's data, from the trainer's current weights.

    It draws from its own sampler (seeded as the trainer's, so a fresh pair draws the same
    batches), assembles each batch with :meth:`Trainer.assemble`, and trains its own copy of the
    weights with its own Adam; the trainer is left as it was.
    """

    def __init__(self, trainer: Trainer):
        cfg = trainer.cfg
        if trainer.dist.enabled:
            raise ValueError("the reference step runs in one process")
        self.trainer = trainer
        self.model = PlainModel(cfg.model, trainer.model)
        self.optimizer = torch.optim.Adam(self.model.params.values(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                          foreach=False)
        pools = trainer.sampler.pools
        self.sampler = PairedSampler(pools["normal"], pools["abnormal"], cfg.batch_size, cfg.seed)
        self.step = trainer.step

    @property
    def params(self) -> dict[str, torch.Tensor]:
        return self.model.params

    def __call__(self) -> dict[str, float]:
        """One plain step; returns the total loss and ``L_abn``."""
        trainer = self.trainer
        cfg = trainer.cfg
        batch = trainer.assemble(*self.sampler.next())
        with autocast(trainer.device, cfg.precision):
            outputs = self.model(batch.x, training=True)
        outputs = {k: v.float() for k, v in outputs.items()}
        base, _ = trainer.spec.base_loss(outputs, batch.mil_weight, trainer.loss_settings)
        loss_abn = torch.zeros(())
        if len(batch.glance_rows):
            scores = outputs["scores"][batch.normal:][torch.from_numpy(batch.glance_rows)]
            mining_from = scores.detach()
            if cfg.mining_from == "eval" and trainer.targets.mines_at(self.step):
                with torch.no_grad():
                    mining_from = self.model(batch.x[batch.normal:][torch.from_numpy(batch.glance_rows)],
                                             training=False).float()
            targets = glance_targets(mining_from, batch.glance_masks, self.step, trainer.targets)
            loss_abn = F.binary_cross_entropy(scores, targets)
        total = base + loss_abn
        self.optimizer.zero_grad()
        total.backward()
        self.optimizer.step()
        self.step += 1
        return {"loss": float(total.detach()), "loss_abn": float(loss_abn.detach())}
