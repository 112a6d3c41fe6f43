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


def _hide_flag_types(command, ctx: typer.Context, *, recurse: bool = True) -> None:  # noqa: ANN001
    """An on/off flag's help (``--help`` included) shows no ``<bool>`` type label: the flag says it all."""
    for param in [*getattr(command, "params", ()), command.get_help_option(ctx)]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
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
