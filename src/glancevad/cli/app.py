"""The root ``glancevad`` typer app; each command module of this package adds its commands to it."""

from __future__ import annotations

import typer

from glancevad import __version__

app = typer.Typer(
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
