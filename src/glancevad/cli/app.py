"""The root ``glancevad`` typer app; each command module of this package adds its commands to it."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="GlanceVAD: video anomaly detection with glance supervision.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
