"""The help a user reads: commands grouped by task in a stated order, no type labels on flags."""

from __future__ import annotations

import re

import typer
from typer.main import get_command
from typer.testing import CliRunner

from glancevad.cli import app
from glancevad.cli.app import COMMAND_GROUPS

ROOT = get_command(app)


def _help(*path: str) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _command_paths(group: typer.core.TyperGroup, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if hasattr(command, "commands"):
            yield from _command_paths(command, (*prefix, name))


def test_every_command_has_one_task_and_the_help_lists_the_tasks_in_order():
    grouped = [name for names in COMMAND_GROUPS.values() for name in names]
    assert len(grouped) == len(set(grouped)), "a command in two tasks"
    assert sorted(grouped) == sorted(ROOT.commands), "a command in no task, or a task naming no command"
    text = _help()
    panels = re.findall(r"╭─ (.+?) ─", text)
    assert panels == ["Options", *COMMAND_GROUPS]
    listed = re.findall(r"^│ (\w+) ", text, flags=re.MULTILINE)
    assert [name for name in listed if name in grouped] == grouped


def test_every_help_page_shows_placeholders_and_bounds_in_one_style():
    """``--data ROOT``, ``--steps N``, ``--precision fp32|bf16|auto``, an argument by its name: no
    ``<type>`` label (``<bool>`` on flags included) and no typer range ``[x>=1]``; a bound is written
    in the help, ``(>= 1)``, as the config's own options write theirs."""
    label = re.compile(r"<(?:bool|path|int|float|str|list|int range|float range)[^>]*>")
    for path in _command_paths(ROOT):
        text = _help(*path)
        assert not label.search(text) and "[x>=" not in text and "[x<=" not in text, (
            path, [line for line in text.splitlines() if label.search(line) or "[x" in line][:3])
    assert not label.search(_help())
    test = _help("test")
    assert re.search(r"--data +ROOT ", test) and re.search(r"--checkpoint +CKPT ", test)
    assert re.search(r"--precision +fp32\|bf16\|auto ", test) and "Score-curve PNGs to draw (>= 0)." in test
    assert re.search(r"--steps +N +Training steps \(>= 1\)", _help("train"))    # a config option's bound alike
    assert re.search(r"│ +VIDEO +The video to analyse", _help("detect"))          # an argument: its name


def test_a_group_with_a_default_command_lists_all_its_commands_in_its_help():
    text = _help("extract")
    assert re.search(r"^│ run ", text, flags=re.MULTILINE) and re.search(r"^│ merge ", text, flags=re.MULTILINE)
    assert "--resume" in _help("extract", "run")  # the default command's own help is one word further
