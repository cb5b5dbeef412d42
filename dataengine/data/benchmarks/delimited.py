"""Benchmark files of delimited text with a header row (MMBench's TSV, a generic benchmark's CSV),
read a row at a time by column name."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from dataengine.data.sources import SourceError


def delimited_rows(path: Path, delimiter: str, required: Iterable[str], expected: str) -> Iterator[tuple[int, dict]]:
    """(line where the row starts, row) for each row; a quoted field may span lines. A header without
    one of the `required` columns stops the read, naming them and what was `expected`."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # base64 images are long fields
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = [key for key in required if key not in (reader.fieldnames or [])]
        if missing:
            raise SourceError(f"{path}: missing columns {missing} (expected {expected})")
        start = reader.line_num + 1
        for row in reader:
            yield start, row
            start = reader.line_num + 1


def ragged(row: dict) -> bool:
    """Whether a row has more or fewer fields than the header has columns."""
    return None in row or None in row.values()
