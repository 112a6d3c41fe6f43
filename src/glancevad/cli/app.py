"""The root ``glancevad`` typer app; each command module of this package adds its commands to it."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from glancevad import __version__

#: The commands by task, in the order ``glancevad --help`` lists them, each task a panel of its own.
#: A new command goes into one of them (``tests/unit/test_cli_help.py`` checks that all do).
COMMAND_GROUPS: dict[str, tuple[str, ...]] = {
    "Data": ("synth", "data", "gt", "glances", "extract"),
    "Annotate": ("annotate", "propose", "select"),
    "Train and evaluate": ("train", "test", "evaluate", "compare", "report"),
    "Reproduce the paper": ("paper", "experiment"),
    "Detect and watch": ("detect", "watch", "export"),
}


class TaskOrderedGroup(TyperGroup):
    """The root command group: its commands listed by task (:data:`COMMAND_GROUPS`), not by the order
    in which the command modules happened to register them."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        order = [name for names in COMMAND_GROUPS.values() for name in names]
        names = sorted(self.commands, key=lambda name: order.index(name) if name in order else len(order))
        for task, members in COMMAND_GROUPS.items():
            for name in members:
                if name in self.commands:
                    self.commands[name].rich_help_panel = task  # type: ignore[attr-defined]
        return names

    def get_command(self, ctx: typer.Context, name: str):  # noqa: ANN201 (typer's own command type)
        command = super().get_command(ctx, name)
        if command is not None:
            _hide_flag_types(command, ctx)
        return command

    def format_help(self, ctx: typer.Context, formatter) -> None:  # noqa: ANN001
        _hide_flag_types(self, ctx, recurse=False)
        super().format_help(ctx, formatter)


#: The placeholder of an option's value, by the option's name (the docs' spelling) ...
PLACEHOLDERS = {"data": "ROOT", "root": "ROOT", "checkpoint": "CKPT", "db": "DB", "videos": "DIR",
                "cache_dir": "DIR", "proxies": "DIR", "sources_file": "FILE", "list_file": "FILE",
                "video_list": "FILE", "config": "FILE", "ground_truth": "FILE", "annotations": "FILE",
                "lengths": "FILE", "alarms": "FILE", "glances": "CSV", "scores": "FILE", "gt": "FILE",
                "overlay": "FILE", "resume": "RUN", "min_event": "SECONDS", "merge_gap": "SECONDS",
                "within": "SECONDS", "stall_timeout": "SECONDS", "backoff": "SECONDS", "device": "DEVICE",
                "weights": "WEIGHTS", "set_": "KEY=VALUE", "sink": "KIND=TARGET", "webhook": "URL", "shard": "I/N",
                "preset": "PRESET", "dataset": "DATASET", "name": "NAME", "names": "NAME", "to": "NAME",
                "annotator": "NAME", "reviewer": "NAME", "video": "ID", "host": "HOST", "metrics_host": "HOST",
                "token": "TOKEN", "threshold": "SCORE", "far_threshold": "SCORE", "fps": "FPS"}
#: ... else by its type, as typer names it.
TYPE_PLACEHOLDERS = {"path": "PATH", "int": "N", "int range": "N", "float": "X", "float range": "X", "str": "TEXT"}


def _placeholder(param, ctx: typer.Context) -> str:  # noqa: ANN001
    """``ROOT``, ``N``, ``fp32|bf16|auto`` ... for an option whose help would show ``<path>``, ``<int>``, ``<...>``."""
    shown = param.metavar if param.metavar is not None else (param.display_type(ctx) or "")
    inner = shown[1:-1] if shown.startswith("<") and shown.endswith(">") else shown
    if "|" in inner:
        return inner
    if inner.startswith("list[") and inner.endswith("]"):
        inner = inner[5:-1].lower()
    return PLACEHOLDERS.get(param.name, TYPE_PLACEHOLDERS.get(inner, inner.upper()))


def _hide_flag_types(command, ctx: typer.Context, *, recurse: bool = True) -> None:  # noqa: ANN001
    """Help that reads like the docs: an on/off flag (``--help`` included) shows no type label, a
    value a placeholder (``--data ROOT``, ``--steps N``, ``--precision fp32|bf16|auto``), and a
    bound is written once, in the help text, as the config's options write theirs (``(>= 1)``)."""
    from glancevad.constraints import Interval

    for param in [*getattr(command, "params", ()), command.get_help_option(ctx)]:
        if param is None or getattr(param, "_tidied", False):
            continue
        param._tidied = True
        if getattr(param, "is_flag", False):
            param.metavar = "" if param.metavar is None else param.metavar
            continue
        if param.param_type_name == "option":
            param.metavar = _placeholder(param, ctx)
        elif param.metavar is None:   # an argument: its name is its placeholder (VIDEO, ROOT ...)
            param.metavar = param.name.upper()
            param.display_type_rich = lambda ctx: None
        low, high = getattr(param, "min", None), getattr(param, "max", None)
        if low is not None or high is not None:
            param.help = (param.help or "").removesuffix(".") + f" ({Interval(low, high).describe()})."
            param._get_number_range_help_str = lambda: None   # else typer adds it again, as "[x>=1]"
    for sub in getattr(command, "commands", {}).values() if recurse else ():
        _hide_flag_types(sub, ctx)


app = typer.Typer(
    cls=TaskOrderedGroup,
    help="GlanceVAD: video anomaly detection with glance supervision.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"glancevad {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print glancevad's version and exit."),
) -> None:
    """GlanceVAD: video anomaly detection with glance supervision."""
