"""The training cache: every training video resampled to ``N`` snippets, in one memory-mapped file.

Built once per feature set (the training videos' feature files — each one's name, size, mtime and
its first and last 4 KB —, N and the frames per snippet, never the root's path) with a progress
callback, written to a temporary name and renamed; a training step reads its videos
(or single crops of them) with positional reads, no parsing.

The cache never depends on the glances: every glance file, mixed fraction and perturbation of a
grid opens the same folder, and the labels and resampled glance masks (``V x N``, cheap) are
computed from the dataset each time it is opened. At UCF-Crime's shape one copy is ~13 GB.

Files in the cache folder::

    features.npy   float32 [V, crops, N, D]   (opened with mmap)
    meta.json      ids, lengths T, the feature-set fingerprint
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glancevad.data.dataset import VADDataset, check_glances_in_range
from glancevad.data.feature_files import feature_shape
from glancevad.data.resample import glance_mask, resample
from glancevad.errors import DataError
from glancevad.fileio import write_json


@dataclass
class TrainingCache:
    """Resampled training videos; ``features`` is a read-only memory map.

    Training reads batches with :meth:`rows` (positional reads into a fresh array) rather than by
    indexing the map: pages touched through a map stay in the process's resident set, so a run
    over a cache larger than memory would show a resident size that grows with the cache.
    """

    folder: Path
    ids: list[str]
    labels: np.ndarray           # (V,) 0/1
    lengths: np.ndarray          # (V,) original T
    features: np.ndarray         # (V, crops, N, D) memmap
    glances: np.ndarray          # (V, N)

    @property
    def num_snippets(self) -> int:
        return self.features.shape[2]

    @property
    def in_dim(self) -> int:
        return self.features.shape[3]

    @property
    def crops(self) -> int:
        return self.features.shape[1]

    def rows(self, indices: np.ndarray) -> np.ndarray:
        """Videos ``indices`` as a new ``float32 (len, crops, N, D)`` array, read with ``preadv``."""
        out = np.empty((len(indices), *self.features.shape[1:]), dtype=np.float32)
        self._read_blocks(out, np.asarray(indices, dtype=np.int64))
        return out

    def crop_rows(self, videos: np.ndarray, crops: np.ndarray) -> np.ndarray:
        """Crop ``crops[i]`` of video ``videos[i]`` as a new ``float32 (len, N, D)`` array.

        Only those crops are read from disk, never the video's other crops.
        """
        videos, crops = np.asarray(videos, dtype=np.int64), np.asarray(crops, dtype=np.int64)
        if len(crops) and (crops.min() < 0 or crops.max() >= self.crops):
            raise IndexError(f"crop index out of range 0..{self.crops - 1}")
        out = np.empty((len(videos), *self.features.shape[2:]), dtype=np.float32)
        self._read_blocks(out, videos * self.crops + crops)
        return out

    def _read_blocks(self, out: np.ndarray, blocks: np.ndarray) -> None:
        """Fill ``out[i]`` with block ``blocks[i]`` of the file, a block being ``out[i].nbytes`` long."""
        block_bytes = out[0].nbytes if len(out) else 0
        fd = os.open(self.folder / "features.npy", os.O_RDONLY)
        try:
            for i, block in enumerate(blocks):
                view = memoryview(out[i]).cast("B")
                offset, done = self.features.offset + int(block) * block_bytes, 0
                while done < block_bytes:
                    got = os.preadv(fd, [view[done:]], offset + done)
                    if got == 0:
                        raise DataError(f"{self.folder / 'features.npy'}: truncated cache file")
                    done += got
        finally:
            os.close(fd)


#: Bumped when the folder's format changes (2: no glances or labels inside).
CACHE_FORMAT = 2


#: Bytes read from each end of a feature file for the cache's key (the whole file when it is smaller
#: than twice this): two copies of a dataset with equal names, sizes and mtimes (``cp -a``) whose
#: features differ get different caches, at two small reads per file.
FINGERPRINT_BYTES = 4096


def _ends(path: Path, size: int) -> bytes:
    """The first and last :data:`FINGERPRINT_BYTES` of a file of ``size`` bytes (all of a small one)."""
    with open(path, "rb") as handle:
        if size <= 2 * FINGERPRINT_BYTES:
            return handle.read()
        head = handle.read(FINGERPRINT_BYTES)
        handle.seek(size - FINGERPRINT_BYTES)
        return head + handle.read(FINGERPRINT_BYTES)


def _fingerprint(dataset: VADDataset, num_snippets: int) -> str:
    """Hash of what the cache depends on: N, the frames per snippet, the training ids and each
    feature file's name, size, mtime and content at both ends (:data:`FINGERPRINT_BYTES`). Not the
    root's path (a moved dataset keeps its cache), the glances nor the labels (see the module docstring)."""
    digest = hashlib.sha256(f"v{CACHE_FORMAT};N={num_snippets};fps={dataset.frames_per_snippet}".encode())
    index = dataset.feature_index("train")
    for video in dataset.train:
        digest.update(f"{video.id}|".encode())
        for path in index.locate(video.id).paths:
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}:".encode())
            digest.update(_ends(path, stat.st_size))
    return digest.hexdigest()[:16]


def build_or_open_cache(
    dataset: VADDataset,
    cache_root: str | os.PathLike,
    *,
    num_snippets: int,
    on_video: Callable[[int, int], None] | None = None,
) -> TrainingCache:
    """Open the cache of ``dataset`` at ``N = num_snippets`` under ``cache_root``; build it if absent.

    ``on_video(done, total)`` reports build progress. Validation errors of any video abort the
    build with that video's message; the partial cache is removed. The labels and glance masks
    come from ``dataset`` (its glance file), checked against the cached lengths.
    """
    folder = cache_folder(dataset, cache_root, num_snippets=num_snippets)
    if not (folder / "meta.json").exists():
        _build(dataset, folder, num_snippets, folder.name.rsplit("-", 1)[1], on_video)
    meta = json.loads((folder / "meta.json").read_text())
    lengths = np.asarray(meta["lengths"], dtype=np.int64)
    index = dataset.feature_index("train")
    masks = np.zeros((len(dataset.train), num_snippets), dtype=np.float32)
    for i, (video, length) in enumerate(zip(dataset.train, lengths, strict=True)):
        check_glances_in_range(video, int(length), dataset.frames_per_snippet, index.locate(video.id).paths[0])
        masks[i] = glance_mask(video.glances, int(length), num_snippets, frames_per_snippet=dataset.frames_per_snippet)
    return TrainingCache(
        folder=folder,
        ids=meta["ids"],
        labels=np.asarray([v.label for v in dataset.train], dtype=np.int64),
        lengths=lengths,
        features=np.load(folder / "features.npy", mmap_mode="r"),
        glances=masks,
    )


def cache_folder(dataset: VADDataset, cache_root: str | os.PathLike, *, num_snippets: int) -> Path:
    """The folder of ``dataset``'s cache at ``N = num_snippets`` under ``cache_root`` (built or not)."""
    return Path(cache_root) / f"{dataset.name}-train-N{num_snippets}-{_fingerprint(dataset, num_snippets)}"


def cache_bytes(num_videos: int, crops: int, num_snippets: int, dim: int) -> int:
    """Bytes of one cache's ``features.npy`` (float32 ``[V, crops, N, D]``), its header aside."""
    return 4 * num_videos * crops * num_snippets * dim


def _build(dataset: VADDataset, folder: Path, num_snippets: int, key: str, on_video) -> None:
    index = dataset.feature_index("train")
    videos = dataset.train
    shapes = [feature_shape(index.locate(v.id)) for v in videos]
    crops = {s[1] for s in shapes}
    dims = {s[2] for s in shapes}
    if len(crops) > 1 or len(dims) > 1:
        raise DataError(f"{index.directory}: videos disagree in crops {sorted(crops)} or dimension {sorted(dims)}")
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    try:
        shape = (len(videos), crops.pop(), num_snippets, dims.pop())
        lengths = []
        # written sequentially with plain writes (a writable map would keep every page resident)
        with open(partial / "features.npy", "wb") as handle:
            np.lib.format.write_array_header_2_0(
                handle, {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False,
                         "shape": shape})
            for i, video in enumerate(videos):
                x = dataset.load_features(video)                     # validated [T, crops, D]
                handle.write(np.ascontiguousarray(resample(x, num_snippets).transpose(1, 0, 2), dtype="<f4").data)
                lengths.append(int(x.shape[0]))
                if on_video is not None:
                    on_video(i + 1, len(videos))
            handle.flush()
            os.fsync(handle.fileno())
        write_json(partial / "meta.json", {
            "format": CACHE_FORMAT, "fingerprint": key, "dataset": str(dataset.root),
            "ids": [v.id for v in videos], "lengths": lengths,
        })
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
