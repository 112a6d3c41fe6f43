"""Terminal output shared by the CLI commands: one rich console and a progress bar factory."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

# soft_wrap: a line longer than the terminal is left for the terminal to wrap, so a printed path
# stays one unbroken string when the output goes to a file or a pipe (rich would cut it at 80 columns)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


class RateColumn(ProgressColumn):
    """Items per second, e.g. ``12.3 videos/s``."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{speed:.1f} {self.unit}/s", style="cyan")


class _Progress(Progress):
    """A bar that vanishes when the work it shows fails, so that an error is the only line printed."""

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            super().__exit__(exc_type, exc, tb)
            return
        # rich would leave the last frame and, off a terminal, an empty line: clear it instead
        self.live.transient = True
        self.live.stop()


def progress_bar(*, unit: str = "it", info: bool = False) -> Progress:
    """A progress bar with count, rate, elapsed time and ETA, drawn on stderr.

    With ``info=True`` a last column shows the task's ``info`` field (e.g. the current loss).
    """
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    if info:
        columns.append(TextColumn("{task.fields[info]}"))
    return _Progress(*columns, console=err_console)
