"""A griffe extension for the API reference: doctest examples in docstrings shown as code.

glancevad's docstrings carry their doctests (``>>> call`` then the output) without an
``Examples:`` section; without this, Markdown would read ``[2, 6]`` as a link. Each run of a
``>>>`` line and the lines up to the next blank one becomes a ``pycon`` code block.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """``text`` with every doctest block (a ``>>>`` line up to the next blank line) fenced as ``pycon``."""
    out: list[str] = []
    block: list[str] = []
    for line in text.splitlines():
        if block and not line.strip():
            out += ["```pycon", *block, "```"]
            block = []
        if block or line.lstrip().startswith(">>>"):
            block.append(line)
        else:
            out.append(line)
    if block:
        out += ["```pycon", *block, "```"]
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Fence the doctests of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
