"""The field's published annotation files, bundled with the package (``glancevad/data/published``).

For UCF-Crime and XD-Violence: the official splits, the GlanceVAD authors' glance CSV, the test
set's temporal annotation and per-video lengths, and (UCF-Crime) the training videos' frame counts.
They are small and MIT / Apache-2.0 licensed (``published/SOURCES.md`` names each file's origin),
so a user of either dataset needs only its features from the dataset's authors. Commands take them
by dataset name (``--dataset ucf-crime``, or the preset's name ``ucf``); a path given for any one
file wins over the bundled one.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from glancevad.errors import DataError
from glancevad.presets import DATASET_PRESETS


@dataclass(frozen=True)
class PublishedDataset:
    """The bundled files of one dataset, by the name of its list files."""

    name: str
    glances_file: str
    annotations_file: str
    train_frame_counts_file: str | None = None

    @property
    def folder(self) -> Path:
        # the package is installed as files (setuptools, a wheel unpacked), so a plain path is valid
        return Path(str(files("glancevad.data") / "published" / self.name))

    @property
    def training_list(self) -> Path:
        return self.folder / f"{self.name}.training.csv"

    @property
    def testing_list(self) -> Path:
        return self.folder / f"{self.name}.testing.csv"

    @property
    def glances(self) -> Path:
        """The authors' glance CSV (``video-id,glance``, frame indices)."""
        return self.folder / self.glances_file

    @property
    def annotations(self) -> Path:
        """The test set's temporal annotation (the dataset's official intervals)."""
        return self.folder / self.annotations_file

    @property
    def test_lengths(self) -> Path:
        """Per test video: frames and snippet count T of the standard 16-frame I3D features."""
        return self.folder / "test_lengths.csv"

    @property
    def train_frame_counts(self) -> Path | None:
        """Frame counts of the training videos, where published (UCF-Crime only)."""
        return self.folder / self.train_frame_counts_file if self.train_frame_counts_file else None


#: The bundled datasets, by the name of their list files.
PUBLISHED: dict[str, PublishedDataset] = {
    "ucf-crime": PublishedDataset("ucf-crime", "ucf_glance_annotations.csv", "UCF_Annotation.txt",
                                  "Train_Annotation.txt"),
    "xd-violence": PublishedDataset("xd-violence", "xd_glance_annotations.csv", "annotations.txt"),
}


def published_dataset(name: str) -> PublishedDataset:
    """The bundled files of dataset ``name`` (``ucf-crime`` / ``xd-violence``, or its preset ``ucf`` / ``xd``)."""
    by_preset = {preset: dataset for dataset, preset in DATASET_PRESETS.items()}
    key = by_preset.get(name, name)
    if key not in PUBLISHED:
        known = ", ".join(f"{n} ({DATASET_PRESETS[n]})" for n in PUBLISHED)
        raise DataError(f"dataset {name!r}: no published annotation files bundled; known: {known}")
    return PUBLISHED[key]


def init_dataset_root(root: str | Path, name: str, *, force: bool = False) -> list[Path]:
    """Write a published dataset's lists, glance CSV and ground truth into ``root`` (the official layout).

    The ground truth is built from the bundled temporal annotation and test lengths (16-frame
    snippets). Only the features (``root/i3d/{train,test}``) are left to the user. Existing files
    of these names are kept unless ``force``. Returns the files written.
    """
    from glancevad.data.groundtruth import ground_truth_from_annotations, write_ground_truth
    from glancevad.fileio import atomic_write

    dataset = published_dataset(name)
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: is a file, not a dataset folder")
    copies = [dataset.training_list, dataset.testing_list, dataset.glances]
    targets = [root / source.name for source in copies] + [root / f"{dataset.name}_ground_truth.json"]
    present = [target for target in targets if target.exists()]
    if present and not force:
        raise DataError(f"{present[0]}: exists already; replace it with --force (force=True)")
    ground_truth, _ = ground_truth_from_annotations(dataset.annotations, dataset.testing_list,
                                                    lengths=dataset.test_lengths)
    root.mkdir(parents=True, exist_ok=True)
    for source, target in zip(copies, targets[:-1], strict=True):
        with atomic_write(target, "wb") as handle:
            handle.write(source.read_bytes())
    write_ground_truth(targets[-1], ground_truth)
    for split in ("train", "test"):
        (root / "i3d" / split).mkdir(parents=True, exist_ok=True)
    return targets
