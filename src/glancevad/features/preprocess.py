"""Snippet preprocessing for I3D: 224×224 crops (1, 5 or 10) of resized frames, RGB scaled to [−1, 1].

Crop order follows torchvision's ``FiveCrop``/``TenCrop``, which the community's extraction scripts
use: top-left, top-right, bottom-left, bottom-right, centre, then (10 crops) the same five flipped
horizontally. One crop is the centre crop.
"""

from __future__ import annotations

import numpy as np
import torch

CROP_SIZE = 224
CROP_CHOICES = (1, 5, 10)


def extraction_crops(trained: int | None) -> int:
    """The crops to extract for a network trained on ``trained`` crops per snippet (``None``: unknown).

    That count when I3D makes it (1, 5 or 10), else the smallest it makes with at least as many
    (2 → 5), else 10 (the field's count). Networks average their scores over the crops they are
    given, so any count scores; this keeps the views closest to those the network was trained on.

    >>> [extraction_crops(n) for n in (1, 2, 5, 7, 12, None)]
    [1, 5, 5, 10, 10, 10]
    """
    if trained is None:
        return CROP_CHOICES[-1]
    return next((n for n in CROP_CHOICES if n >= trained), CROP_CHOICES[-1])


def crop_boxes(height: int, width: int, crops: int, size: int = CROP_SIZE) -> list[tuple[int, int]]:
    """Top-left corners ``(y, x)`` of the un-flipped crops, in order."""
    if height < size or width < size:
        raise ValueError(f"frames of {width}x{height} are smaller than the {size}x{size} crop")
    centre = (int(round((height - size) / 2.0)), int(round((width - size) / 2.0)))
    if crops == 1:
        return [centre]
    if crops in (5, 10):
        return [(0, 0), (0, width - size), (height - size, 0), (height - size, width - size), centre]
    raise ValueError(f"crops must be one of {CROP_CHOICES}, not {crops}")


def snippet_crops(snippet: np.ndarray, crops: int, size: int = CROP_SIZE) -> torch.Tensor:
    """``(S, H, W, 3)`` uint8 frames → ``(crops, 3, S, size, size)`` float32 in [−1, 1]."""
    frames = torch.from_numpy(snippet).permute(3, 0, 1, 2)  # (3, S, H, W), still uint8
    boxes = crop_boxes(frames.shape[2], frames.shape[3], crops, size)
    views = [frames[:, :, y : y + size, x : x + size] for y, x in boxes]
    if crops == 10:
        views += [view.flip(-1) for view in views]
    clips = torch.stack(views).float()
    return clips.mul_(2.0 / 255.0).sub_(1.0)
