"""The source datasets a run reads from disk (benchmark files, pool annotations, image folders).

The workflow checks at parse time that every configured source path exists (naming all the missing
ones at once) and keeps a manifest of each stage's sources: every file with its size and
modification time, rewritten only when one of them changes. The manifest is an input of the rule
that reads the sources, so editing a benchmark file, an annotation file or one image (even
replacing it with an older copy, which Snakemake's newer-than-output test would miss) reruns that
rule and what follows it. Stat calls, not hashes: 118k files (COCO train2017's count) took 0.4-0.65 s
on a 2-core machine.

A loader goes through its whole file before anything is written and records every bad row in a
`SourceCheck`, so that one run names them all (file, row and the dataset's own id, what is wrong),
and counts every item it leaves out by reason for the log.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from dataengine.core.jsonl import atomic_writer

log = logging.getLogger("dataengine")

MAX_LISTED = 50  # problems named in one error; the count is always given
MANIFEST_HEADER = "path\tsize\tmtime_ns"


class SourceError(ValueError):
    """A source dataset that cannot be used as it is; the message names every problem found."""


def require_present(sources: list[tuple[str, str]]) -> None:
    """One FileNotFoundError naming every (config key, path) whose path does not exist."""
    missing = [f"{key}: {path}" for key, path in sources if not os.path.exists(path)]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} configured source paths do not exist (relative ones are taken from {os.getcwd()}):\n  "
            + "\n  ".join(missing)
        )


def write_manifest(out: str | Path, paths: list[str]) -> bool:
    """Write the manifest of `paths` (files, and folders whose files are listed, hidden names left
    out) to `out` when it differs from what `out` holds; True when written."""
    lines = sorted(line for path in paths for line in _stat_lines(path))
    text = "\n".join([MANIFEST_HEADER, *lines]) + "\n"
    out = Path(out)
    if out.is_file() and out.read_text(encoding="utf-8") == text:
        return False
    with atomic_writer(out) as handle:
        handle.write(text)
    return True


def _stat_lines(path: str) -> Iterator[str]:
    """ "<path>\t<size>\t<mtime_ns>" for a file, or for every file under a folder (symlinks followed,
    each folder once)."""
    if not os.path.isdir(path):
        status = os.stat(path)
        yield f"{path}\t{status.st_size}\t{status.st_mtime_ns}"
        return
    folders, seen = [path], set()
    while folders:
        folder = folders.pop()
        status = os.stat(folder)
        if (status.st_dev, status.st_ino) in seen:
            continue
        seen.add((status.st_dev, status.st_ino))
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    folders.append(entry.path)
                    continue
                try:
                    status = entry.stat()
                except FileNotFoundError:  # a broken link; the loader names it if an item needs it
                    yield f"{entry.path}\tbroken link\t"
                    continue
                yield f"{entry.path}\t{status.st_size}\t{status.st_mtime_ns}"


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


def require_keys(cfg: dict, section: str, kind: str, *keys: str) -> None:
    """A clear error naming the kind-specific config keys a loader or reader needs and lacks."""
    missing = [key for key in keys if not cfg.get(key)]
    if missing:
        raise ValueError(f"{section} kind {kind!r} needs the config keys {[f'{section}.{k}' for k in missing]}")
