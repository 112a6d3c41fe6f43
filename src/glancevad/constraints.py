"""What values a config field accepts, declared once beside the field (the idea of scikit-learn's
``validate_params``).

A field carries its constraint in its metadata (:func:`constrained`); the config's check, the
command-line options (``glancevad.cli.common.config_option``) and the documentation's table of
keys all read it from there, so that they cannot disagree. An error names the field.

>>> Interval(0, 1, closed="right").describe()
'in (0, 1]'
>>> Interval(low=0, closed="neither").allows(float("inf"))
False
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from glancevad.errors import SettingError

#: The metadata key of a field's constraint.
CONSTRAINT = "constraint"


@dataclass(frozen=True)
class Interval:
    """A finite number between ``low`` and ``high`` (``None``: unbounded on that side); ``closed``
    says which bounds belong to it. NaN and infinities never do."""

    low: float | None = None
    high: float | None = None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def allows(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return False
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        above = self.low is None or (value >= self.low if low_in else value > self.low)
        below = self.high is None or (value <= self.high if high_in else value < self.high)
        return above and below

    def describe(self) -> str:
        """``in [0, 1]``, ``>= 1``, ``a positive number`` ..."""
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"in {'[' if low_in else '('}{_number(self.low)}, {_number(self.high)}{']' if high_in else ')'}"
        if self.low is not None:
            if self.low == 0 and not low_in:
                return "a positive number"
            return f"{'>=' if low_in else '>'} {_number(self.low)}"
        if self.high is not None:
            return f"{'<=' if high_in else '<'} {_number(self.high)}"
        return "a finite number"

    def must(self) -> str:
        """The description as it follows "must" in an error."""
        return f"lie {self.describe()}" if self.low is not None and self.high is not None else f"be {self.describe()}"


@dataclass(frozen=True)
class OneOf:
    """One of the names of ``names``: a tuple, a registry (its keys, read at each check, so that an
    entry added later counts) or a function returning them (a registry that loads lazily)."""

    names: Iterable[str] | Callable[[], Iterable[str]]

    def choices(self) -> list[str]:
        return list(self._source())

    def descriptions(self) -> dict[str, str]:
        """``{name: its registry entry's description}`` (empty where an entry carries none)."""
        source = self._source()
        return {name: getattr(source[name], "description", "") if isinstance(source, Mapping) else ""
                for name in source}

    def _source(self) -> Iterable[str]:
        return self.names() if callable(self.names) else self.names

    def allows(self, value: Any) -> bool:
        return value in self.choices()

    def describe(self) -> str:
        return f"one of {', '.join(map(str, self.choices()))}"

    def must(self) -> str:
        return f"be {self.describe()}"


Constraint = Interval | OneOf


def constrained(default: Any, constraint: Constraint) -> Any:
    """A dataclass field with ``default`` whose values must satisfy ``constraint``."""
    return dataclasses.field(default=default, metadata={CONSTRAINT: constraint})


def constraints(cls: type) -> dict[str, Constraint]:
    """``{field name: constraint}`` of the constrained fields of dataclass ``cls``, in field order."""
    return {f.name: f.metadata[CONSTRAINT] for f in dataclasses.fields(cls) if CONSTRAINT in f.metadata}


def check(name: str, value: Any, constraint: Constraint) -> None:
    """Raise a :class:`~glancevad.errors.SettingError` naming ``name`` unless ``value`` satisfies ``constraint``."""
    if not constraint.allows(value):
        raise SettingError(name, f"must {constraint.must()}, got {value!r}")


def check_fields(settings: Any) -> None:
    """Check every constrained field of the dataclass instance ``settings``, each error naming its
    field; a field whose default is ``None`` may be ``None`` (unset)."""
    for field in dataclasses.fields(settings):
        if CONSTRAINT in field.metadata:
            value = getattr(settings, field.name)
            if not (value is None and field.default is None):
                check(field.name, value, field.metadata[CONSTRAINT])


def _number(value: float) -> str:
    """A bound as written: an int in full (``4294967295``), a float shortest (``0.5``, ``1e-05``)."""
    return str(value) if isinstance(value, int) else f"{value:g}"
