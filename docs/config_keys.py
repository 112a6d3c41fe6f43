"""A MkDocs hook: the table of what each training config key accepts, made from the keys' own
declarations (``glancevad.config.CONSTRAINTS``, which the config check and ``train``'s options
read too), where a page holds the marker ``<!-- config-constraints -->``."""

from __future__ import annotations

import typing

MARKER = "<!-- config-constraints -->"


def constraints_table() -> str:
    """A Markdown table: key, type, accepted values."""
    from glancevad.config import CONSTRAINTS, TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    rows = ["| key | type | accepts |", "| --- | --- | --- |"]
    rows += [f"| `{key}` | {hints[key].__name__} | `{constraint.describe()}` |"
             for key, constraint in CONSTRAINTS.items()]
    return "\n".join(rows)


def on_page_markdown(markdown: str, **_: object) -> str:
    return markdown.replace(MARKER, constraints_table()) if MARKER in markdown else markdown
