"""UR-DMU's Global and Local Multi-Head Self-Attention (GL-MHSA) encoder.

Each head has a global branch, softmax(q kᵀ / √d) v, and a local branch that mixes ``t`` with a
fixed distance kernel ``W[i, j] = exp(-|i - j| / e) / S[j]``, ``S[j] = Σ_k exp(-|j - k| / e)``.
The released code divides by sums broadcast along the last axis, so the *columns* of ``W`` sum to
one; that is kept so that published checkpoints give published scores. Parameter names follow
the released state dicts (``layers.{i}.0`` attention, ``layers.{i}.1`` feed-forward).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from glancevad.layers.dropout import Dropout


class PreNorm(nn.Module):
    """LayerNorm, then ``fn``."""

    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class FeedForward(nn.Module):
    """Linear, GELU, dropout, Linear, dropout."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), Dropout(dropout), nn.Linear(hidden, dim), Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def distance_kernel(length: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """``(T, T)`` local-attention weights ``exp(-|i - j| / e) / S[j]`` (columns sum to one)."""
    position = torch.arange(1, length + 1, device=device, dtype=torch.float32)
    weights = torch.exp(-(position[None, :] - position[:, None]).abs() / math.e)
    return (weights / weights.sum(-1)).to(dtype)


def global_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """``softmax(q kᵀ · scale) v`` over ``(B, heads, T, d)``: PyTorch's fused attention, except for
    bf16 on the CPU, where its kernel measured 2.4x slower (training) than the two matrix products
    (fp32: 3x faster at test time, as fast in training)."""
    if q.device.type == "cpu" and q.dtype == torch.bfloat16:
        return torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1) @ v
    return F.scaled_dot_product_attention(q, k, v, scale=scale)


class GlobalLocalAttention(nn.Module):
    """``heads`` heads of width ``head_dim``, each with a global and a local branch.

    The parameters are the released ones (``to_qkv`` makes q, k, v and the local branch's ``t``;
    ``to_out`` maps the heads' concatenated ``[global, local]`` outputs back). The forward folds
    the local branch: ``t`` and ``to_out``'s local columns are two linear maps in a row and the
    distance kernel mixes along time only, so ``Σ_h W_out,h (K t_h) = K (x Mᵀ)`` with one
    ``dim x dim`` matrix ``M = W_out,local W_t``. That skips a ``dim x inner`` product and the
    concatenation per layer (forward and backward). Making ``M`` costs ``dim x dim x inner``
    multiply-adds per call and saves ``2 x inner x dim`` per snippet, so inputs of fewer than
    ``dim / 2`` snippets in all (``watch``'s short windows) take :meth:`forward_unfolded`, the
    formula as released (also what the parity test holds the fold to).
    """

    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.scale = head_dim**-0.5
        self.inner = inner = heads * head_dim
        self.to_qkv = nn.Linear(dim, 4 * inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(2 * inner, dim), Dropout(dropout))

    def _out_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``to_out``'s columns that read the global outputs ``(dim, inner)``, and the folded local
        map ``M = W_out,local W_t`` ``(dim, dim)``."""
        weight = self.to_out[0].weight.unflatten(1, (self.heads, 2, -1))   # (dim, heads, [global, local], d)
        global_weight = weight[:, :, 0].flatten(1)
        local_weight = weight[:, :, 1].flatten(1)
        return global_weight, local_weight @ self.to_qkv.weight[3 * self.inner:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        return self.forward_unfolded(x) if 2 * batch * length < dim else self.forward_folded(x)

    def forward_folded(self, x: torch.Tensor) -> torch.Tensor:
        """The local branch as ``K (x Mᵀ)``, merged with the global branch's ``to_out`` product."""
        batch, length, _ = x.shape
        # (B, T, 3 * heads * head_dim) -> three (B, heads, T, head_dim) views: q, k, v
        qkv = F.linear(x, self.to_qkv.weight[: 3 * self.inner])
        q, k, v = qkv.reshape(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        global_out = global_attention(q, k, v, self.scale).transpose(1, 2).reshape(batch, length, -1)
        global_weight, local_map = self._out_weights()
        local_out = distance_kernel(length, device=x.device, dtype=x.dtype) @ F.linear(x, local_map)
        return self.to_out[1](F.linear(global_out, global_weight, self.to_out[0].bias) + local_out)

    def forward_unfolded(self, x: torch.Tensor) -> torch.Tensor:
        """The released formula: ``t`` per head, ``K t``, the concatenation, ``to_out``."""
        batch, length, _ = x.shape
        q, k, v, t = self.to_qkv(x).reshape(batch, length, 4, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        global_out = global_attention(q, k, v, self.scale)
        local_out = distance_kernel(length, device=x.device, dtype=t.dtype) @ t
        out = torch.cat([global_out, local_out], dim=-1)  # (B, heads, T, 2 * head_dim)
        return self.to_out(out.transpose(1, 2).reshape(batch, length, -1))


class GlobalLocalTransformer(nn.Module):
    """``depth`` pre-norm residual blocks of GL-MHSA and feed-forward."""

    def __init__(self, dim: int, depth: int, heads: int, head_dim: int, mlp_dim: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    PreNorm(dim, GlobalLocalAttention(dim, heads, head_dim, dropout)),
                    PreNorm(dim, FeedForward(dim, mlp_dim, dropout)),
                ]
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attention, feed_forward in self.layers:
            x = attention(x) + x
            x = feed_forward(x) + x
        return x
