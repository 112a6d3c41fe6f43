"""A MkDocs hook: tables and lists made from the library's own declarations, so that the pages
cannot drift from them.

* ``<!-- config-constraints -->``: what each training config key accepts, from the keys'
  declarations (``glancevad.config.CONSTRAINTS``, which the config check and ``train``'s options
  read too);
* ``<!-- entries: glancevad.tgs.KERNELS -->``: a registry's names, each with its entry's
  ``description``.
"""

from __future__ import annotations

import importlib
import re
import typing

from glancevad.constraints import Interval, OneOf

CONSTRAINTS_MARKER = "<!-- config-constraints -->"
ENTRIES_MARKER = re.compile(r"<!-- entries: ([\w.]+)\.(\w+) -->")


def constraints_table() -> str:
    """A Markdown table: key, type, accepted values."""
    from glancevad.config import CONSTRAINTS, TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    rows = ["| key | type | accepts |", "| --- | --- | --- |"]
    rows += [f"| `{key}` | {hints[key].__name__} | {_accepts(constraint)} |" for key, constraint in CONSTRAINTS.items()]
    return "\n".join(rows)


def _accepts(constraint: Interval | OneOf) -> str:
    """``in [0, 1]``, or each choice with its registry entry's description (a kernel, a rule)."""
    if isinstance(constraint, Interval):
        return f"`{constraint.describe()}`"
    return "; ".join(f"`{name}`" + (f": {text}" if text else "") for name, text in constraint.descriptions().items())


def entries_list(module: str, name: str) -> str:
    """A Markdown list of the registry ``module.name``: each key (with its target form, for a sink)
    and its entry's description."""
    registry = getattr(importlib.import_module(module), name)
    lines = []
    for key, entry in registry.items():
        target = getattr(entry, "target", "")
        lines.append(f"* `{key}{'=' + target if target else ''}`: {entry.description}")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_: object) -> str:
    markdown = markdown.replace(CONSTRAINTS_MARKER, constraints_table())
    return ENTRIES_MARKER.sub(lambda match: entries_list(*match.groups()), markdown)
