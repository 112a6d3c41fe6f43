"""The bundled training presets (``<name>.yaml``, read by ``glancevad.config``) and which dataset
trains with which by default.

A dataset is named by its list files (``<name>.training.csv``): the real datasets' names map to
their released configurations; anything else (``glancevad synth``'s ``synthetic``) is taken for
demo-sized synthetic data.
"""

from __future__ import annotations

#: The preset of each real dataset, by the name in its list files.
DATASET_PRESETS: dict[str, str] = {"ucf-crime": "ucf", "xd-violence": "xd"}

#: The preset of any other dataset (synthetic data on a CPU).
SYNTHETIC_PRESET = "demo"


def preset_for_dataset(name: str) -> str:
    """The preset a dataset named ``name`` trains with when none is given."""
    return DATASET_PRESETS.get(name, SYNTHETIC_PRESET)


def is_real_dataset(name: str) -> bool:
    """Whether ``name`` is one of the published datasets (whose released schedules apply)."""
    return name in DATASET_PRESETS
