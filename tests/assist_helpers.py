"""A network with a known score profile: snippet score = sigmoid(10 * x[0] - 5), for tests of model assistance."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def profile_score(x0: float) -> float:
    """The score the profile network gives a snippet whose first feature is ``x0`` (``x0 >= 0``)."""
    return float(1 / (1 + np.exp(-(10 * x0 - 5))))


def write_profile_checkpoint(path: Path, dim: int = 16, crops: int = 1) -> Path:
    """A MIL checkpoint (one hidden unit per layer, centre taps only) scoring ``sigmoid(10 x[0] - 5)``,
    marked as trained on ``crops`` crops."""
    import torch

    from glancevad.engine.checkpoint import save_checkpoint
    from glancevad.models import build

    kwargs = {"in_dim": dim, "hidden": 1, "head_hidden": 1}
    model = build("mil", **kwargs)
    state = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    state["encoder.0.weight"][0, 0, 1] = 1.0
    state["head.0.weight"][0, 0, 1] = 1.0
    state["head.3.weight"][0, 0, 0] = 10.0
    state["head.3.bias"][0] = -5.0
    return save_checkpoint(path, {"model_name": "mil", "model_kwargs": kwargs, "model_state": state, "crops": crops})


def profile_features(x0: list[float], dim: int = 16, crops: int = 1) -> np.ndarray:
    """Features ``[T, crops, dim]`` whose first feature follows ``x0`` (the rest zero)."""
    features = np.zeros((len(x0), crops, dim), dtype=np.float32)
    features[:, :, 0] = np.asarray(x0, dtype=np.float32)[:, None]
    return features
