"""One scoring path: a checkpoint → snippet scores → events, for every command that scores.

:class:`Inferencer` (in the spirit of anomalib's) is what ``test``, ``detect``, ``watch``,
``assist`` (the annotation page's scores and ``assist score``) and ``export`` hold once a
checkpoint is loaded: the network with what it was trained on (feature dimension, crops), the
device and precision it runs at, the crops raw video is extracted with, and one
:class:`~glancevad.events.EventSettings` that turns its scores into events. Each command used to
derive these itself, and they drifted (``watch`` asked for a flag the user never passed when a
checkpoint had 2 crops); now a decision about scoring is made here, once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from glancevad.causal import CausalScorer, causal_scores
from glancevad.engine.checkpoint import LoadedModel, load_model
from glancevad.engine.scoring import score_videos
from glancevad.errors import GlanceVADError
from glancevad.events import DEFAULTS, Event, EventSettings, find_events, frame_scores
from glancevad.runtime import resolve_device, resolve_precision


@dataclass
class Inferencer:
    """A trained network ready to score features or raw video, and to turn its scores into events.

    Build it with :meth:`load`. ``crops`` is the number of views raw video is extracted with
    (:func:`~glancevad.features.preprocess.extraction_crops` of the checkpoint's crops unless
    given); ``events`` how frame scores become events.
    """

    checkpoint: Path
    loaded: LoadedModel
    device: torch.device
    precision: str
    crops: int
    weights: str = "rgb_scratch"
    events: EventSettings = DEFAULTS
    _extractors: dict[int, object] = field(default_factory=dict, repr=False, init=False)

    @classmethod
    def load(cls, checkpoint: str | os.PathLike, *, device: str | torch.device = "auto", precision: str = "fp32",
             crops: int | None = None, weights: str = "rgb_scratch", events: EventSettings = DEFAULTS) -> Inferencer:
        """Load ``checkpoint`` (a glancevad checkpoint or a release's state dict) onto ``device``."""
        from glancevad.features.extract import check_crops
        from glancevad.features.preprocess import extraction_crops

        torch_device = device if isinstance(device, torch.device) else resolve_device(device)
        loaded = load_model(checkpoint, device=torch_device)
        chosen = extraction_crops(loaded.crops) if crops is None else crops
        check_crops(chosen)
        return cls(Path(checkpoint), loaded, torch_device, precision, chosen, weights, events)

    # -- what the checkpoint is ------------------------------------------------------------------

    @property
    def model(self) -> torch.nn.Module:
        return self.loaded.model

    @property
    def name(self) -> str:
        """The network's registry name (``mil``, ``rtfm``, ``urdmu``)."""
        return self.loaded.name

    @property
    def in_dim(self) -> int:
        """The feature dimension the network takes."""
        return self.loaded.in_dim

    @property
    def resolved_precision(self) -> str:
        """``fp32`` or ``bf16``: what ``precision`` means on this device."""
        return resolve_precision(self.precision, self.device)

    def check_dim(self, dim: int, where: str | os.PathLike) -> None:
        """One error naming the checkpoint and the features when ``where``'s ``dim``-d features do not fit."""
        if dim != self.in_dim:
            raise GlanceVADError(
                f"{self.checkpoint}: the network takes {self.in_dim}-d features, but {where} holds {dim}-d")

    @property
    def cannot_extract(self) -> str | None:
        """Why raw video cannot be scored (the network does not take I3D's features); ``None`` when it can."""
        from glancevad.features.i3d import FEATURE_DIM

        if self.in_dim == FEATURE_DIM:
            return None
        return f"{self.checkpoint}: the network takes {self.in_dim}-d features but I3D gives {FEATURE_DIM}-d"

    def extractor(self, *, batch: int = 1):
        """The I3D :class:`~glancevad.features.extract.SnippetExtractor` for this network (loaded once)."""
        from glancevad.features.extract import ExtractionSettings, SnippetExtractor
        from glancevad.features.weights import load_i3d

        if (reason := self.cannot_extract) is not None:
            raise GlanceVADError(f"{reason}; give features of its kind instead of video")
        if batch not in self._extractors:
            settings = ExtractionSettings(crops=self.crops, weights=self.weights)
            self._extractors[batch] = SnippetExtractor(load_i3d(self.weights), settings, device=self.device,
                                                       precision=self.precision, batch=batch)
        return self._extractors[batch]

    # -- scores ----------------------------------------------------------------------------------

    def score(self, features: np.ndarray) -> np.ndarray:
        """Offline snippet scores ``(T,)`` of one video's features ``[T, crops, D]`` (crops averaged)."""
        return self.score_videos([("video", features)])["video"]

    def score_videos(self, videos: Iterable[tuple[str, np.ndarray]], *, window: int | None = None, lookahead: int = 0,
                     on_video: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
        """``{id: snippet scores (T,)}`` of ``(id, [T, crops, D])`` pairs: offline, or causally with ``window``."""
        if window is None:
            return score_videos(self.model, videos, device=self.device, precision=self.precision, on_video=on_video)
        out = {}
        for vid, features in videos:
            out[vid] = self.score_causally(features, window=window, lookahead=lookahead)
            if on_video is not None:
                on_video(vid)
        return out

    def score_causally(self, features: np.ndarray, *, window: int, lookahead: int = 0) -> np.ndarray:
        """The scores ``(T,)`` a live stream gets (:func:`glancevad.causal.causal_scores`)."""
        return causal_scores(self.model, features, window=window, lookahead=lookahead, device=self.device,
                             precision=self.precision)

    def causal_scorer(self, *, window: int, lookahead: int = 0) -> CausalScorer:
        """A streaming scorer of this network (one per stream)."""
        return CausalScorer(self.model, window=window, lookahead=lookahead, device=self.device,
                            precision=self.precision)

    # -- events ----------------------------------------------------------------------------------

    def find_events(self, snippet_scores: np.ndarray, num_frames: int, fps: float) -> tuple[np.ndarray, list[Event]]:
        """``(per-frame scores (num_frames,), events)`` of a scored video, with this inferencer's settings."""
        per_frame = frame_scores(snippet_scores, max(int(num_frames), 1))
        return per_frame, find_events(per_frame, fps, threshold=self.events.threshold,
                                      min_event=self.events.min_event, merge_gap=self.events.merge_gap)

