"""What several command modules share: option types and choices (read from the library's own
registries), and the printing of metrics."""

from __future__ import annotations

import typing
from enum import Enum
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from glancevad.config import CONSTRAINTS, PRECISIONS, TrainConfig, coerce, list_presets
from glancevad.constraints import OneOf, check
from glancevad.data.feature_files import LAYOUTS
from glancevad.data.groundtruth import ANNOTATION_FORMATS
from glancevad.errors import GlanceVADError
from glancevad.presets import DATASET_PRESETS, SYNTHETIC_PRESET

FramesOpt = Annotated[int, typer.Option("--frames-per-snippet", min=1, help="Frames covered by one snippet.")]

AnnotationFormat = Enum("AnnotationFormat", {name: name for name in ("auto", *ANNOTATION_FORMATS)}, type=str)
CropNaming = Enum("CropNaming", {name: name for name in LAYOUTS}, type=str)
Precision = Enum("Precision", {name: name for name in PRECISIONS}, type=str)

# The options several commands share, declared once (``watch``, ``detect``, ``extract``, ``test`` ...).
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda ...")]
PRECISION_HELP = ("fp32, bf16 autocast, or auto: bf16 where the hardware has bf16 units (a GPU, a CPU with AMX or"
                  " AVX512-BF16), else fp32.")
PrecisionOpt = Annotated[Precision, typer.Option(help=PRECISION_HELP)]
BatchOpt = Annotated[int, typer.Option(min=1, help="Snippets per forward pass.")]
WeightsOpt = Annotated[str, typer.Option(help="rgb_scratch (bundled) or a PyTorch I3D state dict.")]
ThresholdOpt = Annotated[float, typer.Option(help="Score at or above which a frame is anomalous.")]
MinEventOpt = Annotated[str, typer.Option(help="Events shorter than this are dropped (raise no alarm), e.g. 1.0s.")]
MergeGapOpt = Annotated[str, typer.Option(help="Events closer than this are joined into one, e.g. 2.0s.")]
# ... and those of ``experiment`` and ``paper``
PresetOpt = Annotated[str | None, typer.Option(help=f"Training preset: {', '.join(list_presets())}.")]
# ``experiment`` and ``paper`` choose the preset from the dataset's name when none is given
# (``glancevad.presets.preset_for_dataset``); the help says how, from the same map.
DatasetPresetOpt = Annotated[str | None, typer.Option(help=(
    f"Training preset: {', '.join(list_presets())}. Default: from the dataset's name in its list files ("
    + ", ".join(f"{name}: {preset}" for name, preset in DATASET_PRESETS.items())
    + f", anything else: {SYNTHETIC_PRESET})."))]
SeedsOpt = Annotated[int, typer.Option(min=1, help="Seeds per setting (mean ± std).")]
ParallelOpt = Annotated[int, typer.Option(min=1, help="Runs at once (each gets cores / parallel threads).")]
GridSetOpt = Annotated[list[str] | None, typer.Option("--set", help="Config key for every run: --set steps=100.")]


def config_option(key: str, help: str) -> Any:
    """The option ``--key`` of config key ``key`` (``train``): it accepts what the config accepts,
    read from the key's one constraint (``glancevad.config.CONSTRAINTS``), and its help says so."""
    constraint = CONSTRAINTS[key]
    option = "--" + key.replace("_", "-")

    def parse(text: str) -> Any:
        value = coerce(key, text, option=option)
        check(option, value, constraint)
        return value

    if isinstance(constraint, OneOf):
        metavar, allowed = f"<{'|'.join(constraint.choices())}>", ""
    else:
        metavar = f"<{typing.get_type_hints(TrainConfig)[key].__name__}>"
        allowed = f" ({constraint.describe()})"
    return typer.Option(option, help=help.removesuffix(".") + allowed + ".", parser=parse, metavar=metavar)


def metrics_table(title: str, rows: dict[str, dict[str, float]]) -> Table:
    """Metrics in % as a table, one row per named result (an empty name hides the name column)."""
    from glancevad.metrics import METRIC_NAMES

    table = Table(title=title)
    named = any(rows)
    if named:
        table.add_column("run")
    for key in METRIC_NAMES:
        table.add_column(key)
    for name, metrics in rows.items():
        table.add_row(*([name] if named else []), *(f"{100 * metrics[key]:.2f}" for key in METRIC_NAMES))
    return table


def seconds(text: str, option: str) -> float:
    """``"1.5s"`` or ``"1.5"`` → 1.5 (the duration options of ``detect``)."""
    try:
        value = float(text.strip().removesuffix("s"))
    except ValueError:
        raise GlanceVADError(f"{option}: expected seconds such as 1.0s, not {text!r}") from None
    if value < 0:
        raise GlanceVADError(f"{option}: must not be negative")
    return value


class DefaultCommandGroup(TyperGroup):
    """A command group whose first word, unless it names one of the group's commands, goes to its
    ``run`` command: ``glancevad extract VIDEO --out DIR`` is ``glancevad extract run VIDEO --out DIR``,
    beside ``glancevad extract merge OUT``. ``--help`` alone is the group's: it lists both."""

    default_command = "run"

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] in ctx.help_option_names:
            return super().parse_args(ctx, args)
        if not args or args[0] not in self.commands:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)
