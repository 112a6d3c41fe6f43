"""The ``glancevad`` command line: thin doors over the library, one module per command group.

``data`` (synth, data check, gt build, evaluate), ``glances``, ``training`` (train, test, compare),
``experiments`` (experiment, report), ``video`` (extract, extract merge, detect), ``live`` (watch,
export), ``annotate``, ``assist`` (propose, select).
Each command parses its options, calls one library function and prints where its outputs went.
User errors (:class:`~glancevad.errors.GlanceVADError`) and bad parameters print one line on
stderr and exit 2. Adding a command: a function with ``@app.command()`` in the module of its
group (or a new module imported in ``_app``), and its name in a task of
:data:`glancevad.cli.app.COMMAND_GROUPS` (the order ``glancevad --help`` lists them in). The
modules are imported on first use, so that ``glancevad --version`` answers without them (and
without torch).
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

__all__ = ["app", "main"]


def _app() -> Any:
    """The root typer app with every command module's commands registered (imported on first use:
    ``glancevad --version`` needs none of them)."""
    from glancevad.cli import annotate, assist, data, experiments, glances, live, training, video  # noqa: F401
    from glancevad.cli.app import app

    globals()["app"] = app  # the package's ``app`` is the typer app, not the submodule of that name
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """glancevad's own warnings as one ``warning:`` line; others as Python prints them."""
    from glancevad.console import err_console
    from glancevad.errors import GlanceVADWarning

    if issubclass(category, GlanceVADWarning):
        err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def _fail(message: str) -> None:
    """One ``error:`` line on stderr (whatever the terminal width), exit code 2."""
    from glancevad.console import err_console
    from glancevad.errors import GlanceVADError

    err_console.print(f"[red]error:[/] {GlanceVADError(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)


def _flag_of(setting: str, argv: list[str]) -> str:
    """The option the user typed for a library setting (``min_event`` -> ``--min-event``); the
    setting's own name where no such option was given (a value from ``--set`` or a file)."""
    flag = "--" + setting.replace("_", "-")
    return flag if any(arg == flag or arg.startswith(flag + "=") for arg in argv) else setting


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; user errors and bad parameters print one line on stderr and exit 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # answered before typer builds the commands, whose choices import torch
        from glancevad import __version__

        print(f"glancevad {__version__}")
        return
    import typer
    from typer._click.exceptions import NoArgsIsHelpError, UsageError

    from glancevad.console import err_console
    from glancevad.errors import GlanceVADError, SettingError

    warnings.showwarning = _show_warning
    try:
        code = _app()(args=argv, prog_name="glancevad", standalone_mode=False, obj={"argv": argv})
    except SettingError as exc:
        _fail(f"{_flag_of(exc.setting, argv)} {exc.requirement}")
    except GlanceVADError as exc:
        _fail(str(exc))
    except NoArgsIsHelpError as exc:  # the help was printed
        sys.exit(exc.exit_code)
    except UsageError as exc:  # typer's parameter errors (bad choice, out of range, unknown option)
        _fail(exc.format_message())
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
