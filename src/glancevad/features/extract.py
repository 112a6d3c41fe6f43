"""``glancevad extract``: videos → I3D snippet features in the official layout.

Each video's files are written atomically; a video whose files all exist is finished and skipped
on ``--resume``; a video that fails (unreadable, too short, broken mid-stream) is recorded with its
error in the folder's manifest and the run goes on. With ``--shard i/N`` several processes (or
machines) split a sorted list and write to one folder, each with its own manifest.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glancevad.constants import FRAMES_PER_SNIPPET, VIDEO_SUFFIXES
from glancevad.constraints import Interval, OneOf, check, check_fields, constrained
from glancevad.data.feature_files import layout_paths, write_features
from glancevad.errors import DataError, GlanceVADError, SettingError
from glancevad.features.i3d import FEATURE_DIM, InceptionI3d, fuse_batch_norm
from glancevad.features.preprocess import CROP_CHOICES, snippet_crops
from glancevad.features.video import VideoInfo, iter_frames, iter_snippets, probe
from glancevad.fileio import remove_temporaries, write_json
from glancevad.parsing import read_json_object, read_text
from glancevad.runtime import resolve_precision

#: The crop counts I3D extraction makes.
CROPS = OneOf(CROP_CHOICES)


def check_crops(crops: int) -> None:
    """Refuse a crop count I3D extraction does not make (:data:`CROP_CHOICES`), naming the setting."""
    check("crops", crops, CROPS)


@dataclass(frozen=True)
class ExtractionSettings:
    """What determines the features; a folder holds features of one setting only."""

    crops: int = constrained(10, CROPS)
    stack: int = constrained(FRAMES_PER_SNIPPET, Interval(low=2))
    step: int = constrained(FRAMES_PER_SNIPPET, Interval(low=1))
    fps: float | None = constrained(None, Interval(low=0, closed="neither"))   # None: the video's own rate
    weights: str = "rgb_scratch"

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class Shard:
    """Process ``index`` of ``count`` takes every ``count``-th video of the sorted list."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        """``"i/N"`` (0 ≤ i < N); ``None`` reads torchrun's or SLURM's rank variables, else one shard."""
        if text is None:
            for rank, world in (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS")):
                if os.environ.get(rank) and os.environ.get(world):
                    text = f"{os.environ[rank]}/{os.environ[world]}"
                    break
            else:
                return cls()
        index, sep, count = text.partition("/")
        try:
            shard = cls(int(index), int(count))
        except ValueError:
            shard = None
        if not sep or shard is None or not 0 <= shard.index < shard.count:
            raise SettingError("shard", f"must be i/N with 0 <= i < N, not {text!r}")
        return shard

    def select(self, videos: Sequence[tuple[str, Path]]) -> list[tuple[str, Path]]:
        ordered = sorted(videos)
        return ordered[self.index :: self.count]

    @property
    def manifest_name(self) -> str:
        if self.count == 1:
            return "extraction.json"
        return f"extraction.shard-{self.index}-of-{self.count}.json"


def video_list(
    paths: Sequence[str | os.PathLike], list_file: str | os.PathLike | None = None, root: str | None = None
) -> list[tuple[str, Path]]:
    """``(video id, path)`` pairs from arguments (files or folders) and/or a list file.

    A list file has one path per line (``#`` comments allowed), relative to ``root`` or, without it,
    to the list file's folder. Ids are file stems; two videos with one id are an error.
    """
    found: list[Path] = []
    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()))
        else:
            found.append(path)
    if list_file is not None:
        base = Path(root) if root else Path(list_file).parent
        for line in read_text(list_file, what="video list").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                found.append(base / line.split(",")[0].strip())
    if not found:
        where = ", ".join(str(p) for p in [*paths, *([list_file] if list_file is not None else [])])
        raise GlanceVADError(f"no videos {f'in {where}' if where else 'given'} "
                             "(pass video files, a folder holding videos, or --list FILE)")
    seen: dict[str, Path] = {}
    for path in found:
        vid = path.stem
        if vid in seen and seen[vid] != path:
            raise GlanceVADError(f"two videos share the id {vid!r}: {seen[vid]} and {path}")
        seen[vid] = path
    return list(seen.items())


class SnippetExtractor:
    """An I3D network with its preprocessing: one video → ``[T, crops, 1024]`` features."""

    def __init__(
        self,
        model: InceptionI3d,
        settings: ExtractionSettings,
        *,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        batch: int = 1,
    ):
        self.device = torch.device(device)
        precision = resolve_precision(precision, self.device)
        # Inference layout: batch norm folded into the convolutions, channels-last memory (what
        # oneDNN and cuDNN run fastest), and with bf16 the weights themselves in bf16 rather than
        # cast at every call by autocast. See benchmarks/bench_i3d.py for the measured effect.
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        model = fuse_batch_norm(copy.deepcopy(model).eval())
        self.model = model.to(self.device, self.dtype, memory_format=torch.channels_last_3d)
        self.settings, self.precision, self.batch = settings, precision, max(1, batch)
        self.frames_read = 0  # frames decoded from the last video, trailing ones included

    @torch.no_grad()
    def features(self, clips: list[torch.Tensor]) -> np.ndarray:
        """Features ``(n, crops, 1024)`` of ``n`` clips from :func:`snippet_crops`, in one batch
        (``glancevad watch`` batches the snippets of all its streams here)."""
        x = torch.cat(clips).to(self.device, self.dtype, memory_format=torch.channels_last_3d)
        out = self.model.features(x)
        return out.float().cpu().numpy().reshape(len(clips), self.settings.crops, FEATURE_DIM)

    def snippets(self, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """Features ``(crops, 1024)`` of each whole snippet of ``frames``, computed ``batch`` snippets at a time."""
        pending: list[torch.Tensor] = []
        for _, snippet in iter_snippets(frames, stack=self.settings.stack, step=self.settings.step):
            pending.append(snippet_crops(snippet, self.settings.crops))
            if len(pending) == self.batch:
                yield from self.features(pending)
                pending = []
        if pending:
            yield from self.features(pending)

    def video(self, path: str | os.PathLike, on_snippet: Callable[[], None] | None = None) -> np.ndarray:
        """All snippet features of ``path``; a video shorter than one snippet is a :class:`DataError`."""
        rows = []
        self.frames_read = 0

        def counted(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            for frame in frames:
                self.frames_read += 1
                yield frame

        for row in self.snippets(counted(iter_frames(path, fps=self.settings.fps))):
            rows.append(row)
            if on_snippet is not None:
                on_snippet()
        if not rows:
            raise DataError(
                f"{path}: {self.frames_read} frames, fewer than one snippet of {self.settings.stack} frames"
            )
        return np.stack(rows).astype(np.float32)


def read_manifest(path: Path) -> dict[str, Any]:
    """A folder's manifest (``{}`` if none yet)."""
    return read_json_object(path, what="extraction manifest", shape="an object") if path.is_file() else {}


def extract_videos(
    videos: Sequence[tuple[str, Path]],
    out_dir: str | os.PathLike,
    extractor: SnippetExtractor,
    *,
    layout: str = "glancevad",
    shard: Shard = Shard(),
    resume: bool = False,
    on_start: Callable[[list[tuple[str, Path]], int], None] | None = None,
    on_snippet: Callable[[], None] | None = None,
    on_video: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    """Extract this shard's videos into ``out_dir``; returns the manifest (also written there).

    ``on_start(todo, snippets estimate)``, ``on_snippet()`` and ``on_video(id, status)`` report progress.
    """
    out_dir = Path(out_dir)
    manifest_path = out_dir / shard.manifest_name
    settings = {**asdict(extractor.settings), "layout": layout, "feature_dim": FEATURE_DIM}
    manifest = read_manifest(manifest_path)
    if manifest and not resume:
        raise GlanceVADError(f"{manifest_path}: this folder already holds an extraction; pass --resume to continue it")
    if manifest and manifest.get("settings") != settings:
        raise GlanceVADError(
            f"{manifest_path}: extracted with other settings ({manifest.get('settings')}); use another --out"
        )
    manifest = {"settings": settings, "precision": extractor.precision, "shard": [shard.index, shard.count],
                "videos": manifest.get("videos", {})}
    crops = extractor.settings.crops
    mine = shard.select(videos)
    # files a killed run of this shard was writing (other shards' files in progress are not touched)
    remove_temporaries(out_dir, [manifest_path.name, *(p.name for vid, _ in mine
                                                        for p in layout_paths(out_dir, vid, crops, layout))])
    todo = []
    for vid, path in mine:
        if all(p.is_file() for p in layout_paths(out_dir, vid, crops, layout)):
            manifest["videos"].setdefault(vid, {"status": "done", "source": str(path)})
        else:
            todo.append((vid, path))
    stated: dict[str, VideoInfo] = {}  # probed once: the progress estimate and the truncation check
    for vid, path in todo:
        with contextlib.suppress(DataError):  # an unreadable file fails (and is recorded) below
            stated[vid] = probe(path)
    if on_start is not None:
        cfg = extractor.settings
        on_start(todo, sum(info.snippets(cfg.stack, cfg.step, cfg.fps) for info in stated.values()))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(manifest_path, manifest)
    for vid, path in todo:
        started = time.perf_counter()
        try:
            features = extractor.video(path, on_snippet)
            write_features(out_dir, vid, features, layout)
            entry = {"status": "done", "source": str(path), "snippets": int(features.shape[0]),
                     "frames": extractor.frames_read, "seconds": round(time.perf_counter() - started, 3)}
            frames = stated[vid].frames if vid in stated else 0
            if extractor.settings.fps is None and extractor.frames_read < frames:
                entry["warning"] = f"decoded {extractor.frames_read} of {frames} frames the file states (truncated?)"
        except DataError as exc:
            entry = {"status": "failed", "source": str(path), "error": str(exc)}
        manifest["videos"][vid] = entry
        write_json(manifest_path, manifest)
        if on_video is not None:
            on_video(vid, entry["status"])
    return manifest


def merge_manifests(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Check a folder written by one or several shards and write ``extraction.json`` covering all of them.

    Every video must be listed by exactly one shard, all shards must share settings and shard
    count, and every shard of that count must be present. Returns ``{"done", "failed", "shards", "path"}``.
    """
    out_dir = Path(out_dir)
    shard_files = sorted(out_dir.glob("extraction.shard-*-of-*.json"))
    if not shard_files:
        raise GlanceVADError(f"{out_dir}: no shard manifests (extraction.shard-i-of-N.json) to merge")
    manifests = {path: read_manifest(path) for path in shard_files}
    counts = {tuple(m.get("shard", ())) for m in manifests.values()}
    totals = {c[1] for c in counts if len(c) == 2}
    if len(totals) != 1:
        raise GlanceVADError(f"{out_dir}: shard manifests of different shard counts ({sorted(totals)})")
    (total,) = totals
    missing = sorted(set(range(total)) - {c[0] for c in counts})
    if missing:
        raise GlanceVADError(f"{out_dir}: shard(s) {', '.join(map(str, missing))} of {total} have no manifest")
    settings = {_json_key(m.get("settings")) for m in manifests.values()}
    if len(settings) != 1:
        raise GlanceVADError(f"{out_dir}: the shards were extracted with different settings")
    videos: dict[str, dict] = {}
    for path, manifest in manifests.items():
        for vid, entry in manifest.get("videos", {}).items():
            if vid in videos:
                raise GlanceVADError(f"{out_dir}: video {vid} is listed by more than one shard ({path.name})")
            videos[vid] = entry
    first = next(iter(manifests.values()))
    layout, crops = first["settings"]["layout"], first["settings"]["crops"]
    for vid, entry in videos.items():
        if entry["status"] == "done" and not all(p.is_file() for p in layout_paths(out_dir, vid, crops, layout)):
            raise GlanceVADError(f"{out_dir}: video {vid} is marked done but its feature files are missing")
    # shards may run on different machines: "bf16, fp32" says so (a manifest older than the field: "unknown")
    precision = ", ".join(sorted({m.get("precision", "unknown") for m in manifests.values()}))
    merged = write_json(out_dir / "extraction.json", {"settings": first["settings"], "precision": precision,
                                                      "shard": [0, 1], "videos": videos})
    failed = {vid: e.get("error", "") for vid, e in videos.items() if e["status"] != "done"}
    return {"done": len(videos) - len(failed), "failed": failed, "shards": total, "path": merged}


def _json_key(value: Any) -> str:
    """A canonical string of a JSON value, to compare settings."""
    import json

    return json.dumps(value, sort_keys=True)
