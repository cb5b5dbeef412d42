"""The source datasets a run reads from disk (benchmark files, pool annotations, image folders).

A loader goes through its whole file before anything is written and records every bad row in a
`SourceCheck`, so that one run names them all (file, row and the dataset's own id, what is wrong),
and counts every item it leaves out by reason for the log.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger("dataengine")

MAX_LISTED = 50  # problems named in one error; the count is always given


class SourceError(ValueError):
    """A source dataset that cannot be used as it is; the message names every problem found."""


def describe(value) -> str:
    """What a JSON value is, for an error about a file's shape."""
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


class SourceCheck:
    """Problems and dropped items of one source dataset (`what`, e.g. "benchmark seedbench")."""

    def __init__(self, what: str):
        self.what = what
        self.problems: list[str] = []
        self.missing_images: list[str] = []
        self.dropped: Counter = Counter()

    def bad(self, where: str, problem: str) -> None:
        """A row that cannot be used: `where` names the file, the row and the dataset's own id."""
        self.problems.append(f"{where}: {problem}")

    def unique(self, value, seen: set, where: str) -> bool:
        """True the first time an id is seen in a file; a repeat is a bad row."""
        if value in seen:
            self.bad(where, "duplicate id: an earlier row has it")
            return False
        seen.add(value)
        return True

    def drop(self, reason: str, count: int = 1) -> None:
        """Items left out on purpose (another type, a video question ...), counted by reason."""
        self.dropped[reason] += count

    def images(self, paths: Iterable[Path]) -> None:
        """Record every image file that does not exist."""
        self.missing_images += [str(path) for path in paths if not Path(path).is_file()]

    def raise_problems(self) -> None:
        """One SourceError naming every bad row and every missing image, if there is any."""
        parts = []
        if self.problems:
            parts.append(f"{len(self.problems)} bad rows:\n  " + "\n  ".join(_shown(self.problems)))
        if self.missing_images:
            parts.append(f"{len(self.missing_images)} images missing: " + ", ".join(_shown(self.missing_images)))
        if parts:
            raise SourceError(f"{self.what}: " + "\n".join(parts) + "\nNothing was written.")

    def log_dropped(self, kept: int) -> None:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.dropped.items())) or "none"
        log.info("%s: %d kept; left out: %s", self.what, kept, reasons)


def _shown(items: list[str]) -> list[str]:
    """The first MAX_LISTED items, and how many more there are."""
    return items[:MAX_LISTED] + ([f"... and {len(items) - MAX_LISTED} more"] if len(items) > MAX_LISTED else [])


def configured_paths(section: str, cfg: dict, keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """(config key, path) of each of `keys` set in a config section; a list of paths gives one each."""
    pairs = []
    for key in keys:
        value = cfg.get(key)
        if isinstance(value, list):
            pairs += [(f"{section}.{key}[{i}]", str(path)) for i, path in enumerate(value)]
        elif value:
            pairs.append((f"{section}.{key}", str(value)))
    return pairs


def object_rows(rows: list, where: str, id_key: str, check: SourceCheck) -> Iterator[tuple[str, dict]]:
    """(where, row) for each row of a JSON list that is an object, `where` naming the row's index
    and its own id (`id_key`); any other row is recorded as bad."""
    for index, row in enumerate(rows):
        at = f"{where}[{index}]"
        if isinstance(row, dict):
            yield f"{at} ({id_key} {row.get(id_key)!r})", row
        else:
            check.bad(at, f"expected an object, got {describe(row)}")
