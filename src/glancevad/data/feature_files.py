"""Snippet-feature files: one ``.npy`` per crop, or one stacked ``[T, crops, D]`` file.

Naming conventions accepted (section 1 of the reference notes):

* GlanceVAD: crop 0 is ``<vid>.npy``, crops 1.. are ``<vid>__1.npy`` ...
* indexed:   ``<vid>__0.npy`` ... ``<vid>__<C-1>.npy``
* stacked:   ``<vid>.npy`` holding ``[T, crops, D]`` (RTFM style) or ``[T, D]`` (one crop)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glancevad.errors import DataError
from glancevad.fileio import write_npy

_CROP_SUFFIX = re.compile(r"__\d+$")


@dataclass(frozen=True)
class FeatureFiles:
    """Where one video's features live: per-crop files in crop order, or one stacked file."""

    video_id: str
    paths: tuple[Path, ...]
    stacked: bool


def read_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a ``.npy`` file without reading its data."""
    try:
        with open(path, "rb") as handle:
            major, _ = np.lib.format.read_magic(handle)
            if major == 1:
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    except FileNotFoundError:
        raise DataError(f"{path}: feature file not found") from None
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable .npy file ({exc})") from None
    return tuple(shape), dtype


class FeatureIndex:
    """An index of one feature folder, built with a single directory listing.

    A file ``<stem>.npy`` is either a video's own file (crop 0 in GlanceVAD's naming, or a stacked
    array) or, when the stem ends in ``__<k>``, crop ``k`` of the video whose id is the stem
    without it. ``ids`` (the dataset's lists) settle which: a stem that is a listed id is that
    video's own file, never a crop of a shorter id, so that ``normal_cam__2`` with the files
    ``normal_cam__2.npy`` and ``normal_cam__2__1.npy`` is one video of two crops. Without lists a
    ``__<k>`` stem is read as a crop, as the naming conventions say.
    """

    def __init__(self, directory: str | os.PathLike, ids: Iterable[str] = ()):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise DataError(f"{self.directory}: feature folder not found")
        self._listed = set(ids)
        self._own: dict[str, Path] = {}                     # stem -> its file
        self._crops: dict[str, dict[int, Path]] = {}        # id -> {k: <id>__<k>.npy}
        for entry in os.scandir(self.directory):
            if not entry.name.endswith(".npy") or len(entry.name) == 4 or not entry.is_file():
                continue
            stem = entry.name[:-4]
            self._own[stem] = Path(entry.path)
            if match := _CROP_SUFFIX.search(stem):
                self._crops.setdefault(stem[:match.start()], {})[int(match.group()[2:])] = Path(entry.path)

    def _is_crop(self, stem: str) -> bool:
        """Whether the file ``<stem>.npy`` is read as another video's crop."""
        return bool(_CROP_SUFFIX.search(stem)) and stem not in self._listed

    def _files(self, video_id: str) -> dict[int | None, Path]:
        """A video's files: ``None`` for its own ``<id>.npy``, ``k`` for ``<id>__<k>.npy``."""
        files: dict[int | None, Path] = {k: path for k, path in self._crops.get(video_id, {}).items()
                                         if self._is_crop(f"{video_id}__{k}")}
        if video_id in self._own and (not self._is_crop(video_id) or video_id in self._crops):
            files[None] = self._own[video_id]
        return files

    def __contains__(self, video_id: str) -> bool:
        return bool(self._files(video_id))

    def video_ids(self) -> list[str]:
        """The ids of the videos with feature files, sorted."""
        ids = {stem for stem in self._own if not self._is_crop(stem)}
        ids.update(base for base, crops in self._crops.items() if any(self._is_crop(f"{base}__{k}") for k in crops))
        return sorted(ids)

    def locate(self, video_id: str) -> FeatureFiles:
        """Resolve a video's files; a missing video or a gap in the crop numbers is an error."""
        files = self._files(video_id)
        # an id like "cam__2" reads as crop 2 of "cam" in the file names unless the lists name it
        hint = ("; the id ends in '__<number>', which feature file names use for crops: list the video "
                "or rename it" if _CROP_SUFFIX.search(video_id) and video_id not in self._listed else "")
        if not files:
            raise DataError(
                f"{self.directory}: video {video_id}: no feature file "
                f"(looked for {video_id}.npy and {video_id}__0.npy){hint}"
            )
        numbered = sorted(c for c in files if c is not None)
        # without lists, <id>__<k>.npy beside <id>__<k>__<j>.npy is crop k of <id> or crop 0 of <id>__<k>
        if ambiguous := [c for c in numbered if not self._listed and f"{video_id}__{c}" in self._crops]:
            c = ambiguous[0]
            beside = sorted(self._crops[f"{video_id}__{c}"].values())[0].name
            raise DataError(
                f"{self.directory}: video {video_id}: {video_id}__{c}.npy reads as crop {c} of {video_id} and as "
                f"crop 0 of {video_id}__{c} (beside {beside}); read the folder with the dataset's lists, which name "
                "the videos, or rename one"
            )
        if None in files:
            if not numbered:
                ndim = len(read_npy_header(files[None])[0])
                return FeatureFiles(video_id, (files[None],), stacked=ndim == 3)
            if 0 in numbered:
                raise DataError(
                    f"{self.directory}: video {video_id}: both {video_id}.npy and "
                    f"{video_id}__0.npy exist; keep one crop-0 file"
                )
            order = [None, *numbered]
            expected = list(range(1, len(numbered) + 1))
        else:
            order = numbered
            expected = list(range(len(numbered)))
        if numbered != expected:
            missing = sorted(set(range(1, max(numbered) + 1)) - set(numbered) - {0})
            if None not in files and 0 not in numbered:
                missing = [0, *missing]
            read_as = ", ".join(f"{files[c].name} as crop {c} of {video_id}" for c in numbered)
            raise DataError(
                f"{self.directory}: video {video_id}: crop file(s) "
                f"{', '.join(f'{video_id}__{c}.npy' for c in missing)} missing (read {read_as}){hint}"
            )
        return FeatureFiles(video_id, tuple(files[c] for c in order), stacked=False)


def load_features(
    files: FeatureFiles, *, expected_dim: int | None = None, mmap: bool = False
) -> np.ndarray:
    """Load and validate one video's features as ``float32 [T, crops, D]``.

    Errors name the file and the video: wrong rank, T = 0, a crop with another T, a feature
    dimension other than ``expected_dim``, a non-float dtype, NaN or infinity.
    With ``mmap=True`` the finite-value check still reads every value once.
    """
    arrays = []
    for path in files.paths:
        _checked_header(files, path, expected_dim)
        where = f"{path}: video {files.video_id}"
        try:
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"{where}: cannot read ({exc})") from None
        if not np.isfinite(array).all():
            bad = int(np.argwhere(~np.isfinite(array))[0][0])
            raise DataError(f"{where}: NaN or infinite value (first at snippet {bad})")
        arrays.append(array)
    if files.stacked:
        return np.asarray(arrays[0], dtype=np.float32)
    lengths = {a.shape[0] for a in arrays}
    dims = {a.shape[1] for a in arrays}
    if len(lengths) > 1 or len(dims) > 1:
        shapes = ", ".join(f"{p.name}: {a.shape}" for p, a in zip(files.paths, arrays, strict=True))
        raise DataError(f"video {files.video_id}: crops disagree in shape ({shapes})")
    return np.stack([np.asarray(a, dtype=np.float32) for a in arrays], axis=1)


def _checked_header(
    files: FeatureFiles, path: Path, expected_dim: int | None
) -> tuple[int, ...]:
    """Validate one file's header (rank, dtype, T > 0, D) and return its shape."""
    shape, dtype = read_npy_header(path)
    where = f"{path}: video {files.video_id}"
    want = 3 if files.stacked else 2
    if len(shape) != want:
        raise DataError(f"{where}: array of shape {shape}, expected {want} dimensions")
    if not np.issubdtype(dtype, np.floating):
        raise DataError(f"{where}: dtype {dtype}, expected floating point")
    if shape[0] == 0:
        raise DataError(f"{where}: no snippets (T = 0)")
    if files.stacked and shape[1] == 0:
        raise DataError(f"{where}: no crops in the stacked array")
    if expected_dim is not None and shape[-1] != expected_dim:
        raise DataError(f"{where}: feature dimension {shape[-1]}, expected {expected_dim}")
    return shape


def feature_shape(files: FeatureFiles, *, expected_dim: int | None = None) -> tuple[int, int, int]:
    """``(T, crops, D)`` from the validated file headers alone (no data read)."""
    shapes = [_checked_header(files, p, expected_dim) for p in files.paths]
    if files.stacked:
        return shapes[0]  # type: ignore[return-value]
    if len(set(shapes)) > 1:
        listed = ", ".join(f"{p.name}: {s}" for p, s in zip(files.paths, shapes, strict=True))
        raise DataError(f"video {files.video_id}: crops disagree in shape ({listed})")
    return (shapes[0][0], len(shapes), shapes[0][-1])


LAYOUTS = ("glancevad", "indexed", "stacked")


def layout_paths(folder: str | os.PathLike, video_id: str, crops: int, layout: str) -> list[Path]:
    """The files that hold one video's ``crops`` crops in ``layout``, in crop order."""
    folder = Path(folder)
    if layout == "stacked":
        return [folder / f"{video_id}.npy"]
    if layout == "glancevad":
        return [folder / f"{video_id}.npy", *(folder / f"{video_id}__{c}.npy" for c in range(1, crops))]
    if layout == "indexed":
        return [folder / f"{video_id}__{c}.npy" for c in range(crops)]
    raise DataError(f"feature layout {layout!r} is not one of {', '.join(LAYOUTS)}")


def write_features(folder: str | os.PathLike, video_id: str, features: np.ndarray, layout: str) -> list[Path]:
    """Write ``[T, crops, D]`` features in ``layout``, each file atomically; returns the paths.

    Crop files are written last-to-first, so the file a reader looks for first appears last.
    """
    paths = layout_paths(folder, video_id, features.shape[1], layout)
    if layout == "stacked":
        return [write_npy(paths[0], features)]
    for crop in reversed(range(len(paths))):
        write_npy(paths[crop], features[:, crop])
    return paths
