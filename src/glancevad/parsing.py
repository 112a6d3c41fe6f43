"""Strict reading of the small CSV files of the data contract (lists, glances, lengths).

Every problem becomes a :class:`~glancevad.errors.DataError` that names the file and the line.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

from glancevad.errors import DataError


def read_text(path: str | os.PathLike, *, what: str) -> str:
    """Read a UTF-8 text file, turning a missing or undecodable file into a ``DataError``."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: {what} is a directory, expected a file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: {what} is not UTF-8 text ({exc.reason})") from None


def read_table(
    path: str | os.PathLike,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    what: str = "CSV file",
) -> list[tuple[int, dict[str, str]]]:
    """Read a headed CSV; return ``(line_number, row)`` pairs with the known columns stripped.

    The header must contain every ``required`` column; other columns are ignored unless named in
    ``optional``. Blank lines are skipped. A row with a different number of fields than the
    header, or an empty required field, is an error naming the line.
    """
    path = Path(path)
    text = read_text(path, what=what)
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise DataError(f"{path}: malformed {what}: {exc}") from None
    numbered = [(i + 1, row) for i, row in enumerate(rows) if any(cell.strip() for cell in row)]
    if not numbered:
        raise DataError(f"{path}: {what} is empty (expected a header {','.join(required)})")
    header_line, header = numbered[0]
    header = [cell.strip() for cell in header]
    missing = [name for name in required if name not in header]
    if missing:
        raise DataError(
            f"{path}: line {header_line}: header {','.join(header)!r} lacks column(s) "
            f"{', '.join(missing)} (expected {','.join(required)})"
        )
    if len(set(header)) != len(header):
        raise DataError(f"{path}: line {header_line}: duplicate column names in the header")
    wanted = [name for name in (*required, *optional) if name in header]
    index = {name: header.index(name) for name in wanted}
    out = []
    for line, row in numbered[1:]:
        if len(row) != len(header):
            raise DataError(
                f"{path}: line {line}: {len(row)} field(s), the header has {len(header)}"
            )
        record = {name: row[i].strip() for name, i in index.items()}
        empty = [name for name in required if not record[name]]
        if empty:
            raise DataError(f"{path}: line {line}: empty {', '.join(empty)}")
        out.append((line, record))
    return out


def read_json_object(path: str | os.PathLike, *, what: str, shape: str) -> dict:
    """Read a JSON file whose top level must be an object; ``shape`` describes it in the error."""
    path = Path(path)
    try:
        data = json.loads(read_text(path, what=what))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed {what}: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: {what} must be a JSON object of {shape}")
    return data


def parse_int(value: str, *, path: str | os.PathLike, line: int, field: str, minimum: int = 0) -> int:
    """Parse a non-negative (or ``>= minimum``) integer field, or raise a ``DataError``."""
    try:
        number = int(value)
    except ValueError:
        raise DataError(f"{path}: line {line}: {field} {value!r} is not an integer") from None
    if number < minimum:
        raise DataError(f"{path}: line {line}: {field} {number} is below {minimum}")
    return number
