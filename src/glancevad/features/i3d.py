"""Inception-I3D (Carreira & Zisserman, 2017) in PyTorch, with TensorFlow "SAME" padding.

DeepMind trained I3D in TensorFlow, whose "SAME" padding puts the odd extra row at the *end*
(bottom/right/back) and depends on the input size; PyTorch's symmetric ``padding=`` does not. The
weights only give the published features when the original padding is reproduced, so every
convolution and max-pool here computes it from the input, as TensorFlow does.

Parameter names follow the community's PyTorch port (``Conv3d_1a_7x7.conv3d.weight``,
``Mixed_3b.b1b.bn.running_var``, ``logits.conv3d.bias``), so its state dicts load as they are.
Batch norm uses epsilon 1e-3 as in the original.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_DIM = 1024
NUM_CLASSES = 400
BN_EPSILON = 1e-3

# (name, branch widths b0, b1a, b1b, b2a, b2b, b3b) in network order; ``None`` marks a max-pool.
_INCEPTION_WIDTHS: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "SAME" padding (before, after) of one axis: output ``ceil(size / stride)``."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], value: float) -> torch.Tensor:
    pads: list[int] = []
    for axis in (2, 1, 0):  # F.pad wants the last axis first: W, H, T
        pads.extend(same_padding(x.shape[2 + axis], kernel[axis], stride[axis]))
    if not any(pads):
        return x
    return F.pad(x, pads, value=value)


def _symmetric(size_kernel_stride: list[tuple[int, int, int]]) -> tuple[int, int, int] | None:
    """The symmetric padding equal to "SAME" when the input size does not matter (stride 1, odd kernel)."""
    pads = []
    for _, kernel, stride in size_kernel_stride:
        if stride != 1 or kernel % 2 == 0:
            return None
        pads.append((kernel - 1) // 2)
    return tuple(pads)  # type: ignore[return-value]


class Unit3D(nn.Module):
    """Conv3d ("SAME", no bias) → batch norm → ReLU; the logits layer is a bare conv with bias."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        *,
        batch_norm: bool = True,
        activation: bool = True,
        bias: bool = False,
    ):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.symmetric_padding = _symmetric([(0, k, s) for k, s in zip(kernel, stride, strict=True)])
        self.conv3d = nn.Conv3d(
            in_channels, out_channels, kernel, stride=stride, bias=bias, padding=self.symmetric_padding or 0
        )
        self.bn = nn.BatchNorm3d(out_channels, eps=BN_EPSILON, momentum=0.01) if batch_norm else None
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.symmetric_padding is None:
            x = _pad_same(x, self.kernel, self.stride, 0.0)
        x = self.conv3d(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu_(x) if self.activation else x


class MaxPool3dSame(nn.Module):
    """Max-pool with TensorFlow "SAME" padding (padded cells never win)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.symmetric_padding = _symmetric([(0, k, s) for k, s in zip(kernel, stride, strict=True)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.symmetric_padding is not None:  # PyTorch pads max-pool with -inf itself
            return F.max_pool3d(x, self.kernel, stride=1, padding=self.symmetric_padding)
        pads = [same_padding(x.shape[2 + axis], self.kernel[axis], self.stride[axis]) for axis in range(3)]
        if all(after - before in (0, 1) and before <= self.kernel[axis] // 2
               for axis, (before, after) in enumerate(pads)):
            # "SAME" with the odd cell at the end is PyTorch's ceil mode: no padded copy of the input
            before = tuple(b for b, _ in pads)
            out = F.max_pool3d(x, self.kernel, self.stride, padding=before, ceil_mode=True)
            if all(out.shape[2 + a] == math.ceil(x.shape[2 + a] / self.stride[a]) for a in range(3)):
                return out
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride, float("-inf")), self.kernel, self.stride)


class InceptionModule(nn.Module):
    """Four branches (1×1; 1×1→3×3; 1×1→3×3; max-pool→1×1) concatenated on channels."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3b = widths
        self.b0 = Unit3D(in_channels, b0)
        self.b1a = Unit3D(in_channels, b1a)
        self.b1b = Unit3D(b1a, b1b, (3, 3, 3))
        self.b2a = Unit3D(in_channels, b2a)
        self.b2b = Unit3D(b2a, b2b, (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, b3b)
        self.out_channels = b0 + b1b + b2b + b3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """RGB Inception-I3D up to Mixed_5c, with the Kinetics logits layer.

    Input ``(B, 3, T, H, W)`` in [−1, 1]. :meth:`features` gives the field's snippet feature
    (Mixed_5c, average-pooled over a (2, 7, 7) window with stride 1, then averaged over time);
    :meth:`forward` the Kinetics-400 logits.
    """

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        channels = 192
        for name, widths in _INCEPTION_WIDTHS.items():
            if name == "Mixed_4b":
                self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
            module = InceptionModule(channels, widths)
            setattr(self, name, module)
            channels = module.out_channels
        self.logits = Unit3D(channels, num_classes, batch_norm=False, activation=False, bias=True)

    def mixed_5c(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional block's output ``(B, 1024, T/8, H/32, W/32)``."""
        for module in self.children():
            if module is self.logits:
                break
            x = module(x)
        return x

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        mixed = self.mixed_5c(x)
        window = (min(2, mixed.shape[2]), min(7, mixed.shape[3]), min(7, mixed.shape[4]))
        return F.avg_pool3d(mixed.float(), window, stride=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Snippet features ``(B, 1024)``."""
        return self._pooled(x).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Kinetics logits ``(B, classes)``, averaged over the remaining time (and space) positions."""
        return self.logits(self._pooled(x)).mean(dim=(2, 3, 4))


@torch.no_grad()
def fuse_batch_norm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode batch norm into the convolution before it, in place (inference only).

    ``bn(conv(x)) = conv'(x)`` with weights scaled by ``gamma / sqrt(var + eps)`` and a bias
    ``beta - mean · that scale``: the same outputs to float rounding, one pass over memory fewer.
    """
    for unit in model.modules():
        if isinstance(unit, Unit3D) and unit.bn is not None:
            conv, bn = unit.conv3d, unit.bn
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            fused = nn.Conv3d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                              padding=conv.padding, bias=True).to(conv.weight.device)
            fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1, 1))
            fused.bias.copy_(bn.bias - bn.running_mean * scale)
            unit.conv3d, unit.bn = fused, None
    return model
