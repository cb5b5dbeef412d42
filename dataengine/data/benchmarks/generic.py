"""A benchmark in the generic format: an in-house multiple-choice set converted to one table, a row per
question, whose types are its own categories (docs/benchmarks.md).

`benchmark.path` is a JSONL file, a CSV file, or parquet: a file, or a folder of shards read a slice at
a time (`benchmark.split` picks <split>-*.parquet). A row holds
- id: unique in the benchmark;
- image: a file, as a relative path under `benchmark.image_dir`; or, in parquet, the image itself: a
  binary column, or a struct {bytes, path} as `datasets` writes it (bytes null: the path is a file);
- question, and an optional hint, shown on the line before the question (as MMBench's);
- options: a list of 2 to 10 texts, or columns A..J (a CSV's only way), blank ones absent,
  consecutive from A;
- answer: the correct option's letter;
- category: the question's type, by name; config `qtypes` names the categories the run measures, and
  numbers them in its order (dataengine.core.qtypes).
An embedded image is written to the build's scratch folder when its row is read, named by the struct's
path or else by its content (questions on one image share it, and its dev/test split).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import polars as pl

from dataengine.core.formats import LETTERS
from dataengine.core.jsonl import jsonl_lines
from dataengine.core.qtypes import TypeTable
from dataengine.data.benchmarks import shards
from dataengine.data.benchmarks.delimited import delimited_rows, ragged
from dataengine.data.benchmarks.items import Categories, SourceItem, keep_item, lettered_options, text, with_hint
from dataengine.data.sources import SourceCheck, SourceError, require_keys

SOURCE_KEYS = ("path", "image_dir")
REQUIRED = ("id", "image", "question", "answer", "category")
COLUMNS = (*REQUIRED, "options", *LETTERS, "hint")  # every column the loader reads
EXPECTED = "the generic benchmark format, docs/benchmarks.md"


def read(cfg: dict, types: TypeTable, check: SourceCheck, scratch: Path) -> list[SourceItem]:
    require_keys(cfg, "benchmark", "generic", "path")
    path = Path(cfg["path"])
    categories = Categories(types)
    images = _Images(Path(cfg["image_dir"]) if cfg.get("image_dir") else None, scratch)
    items, ids = [], set()
    for where, row in _rows(path, cfg.get("split"), check):
        item = _item(row, where, categories, images, check, ids)
        if item is not None:
            keep_item(item, items, check)
    categories.require_met(str(path))
    return items


def _rows(path: Path, split: str | None, check: SourceCheck) -> Iterator[tuple[str, dict]]:
    """(where, row) for every row of the file or shards at `path`, `where` naming the file, the row
    and its id."""
    if shards.holds_shards(path):
        columns = pl.read_parquet_schema(shards.shard_files(path, split)[0])
        _require_columns(path, columns)
        return shards.rows(path, split, tuple(column for column in COLUMNS if column in columns), "id")
    if path.suffix == ".csv":
        return _csv_rows(path, check)
    if path.suffix == ".jsonl":
        return _jsonl_rows(path, check)
    raise SourceError(f"{path}: expected a .jsonl, .csv or .parquet file or a folder of parquet shards ({EXPECTED})")


def _require_columns(path: Path, columns: Iterable[str]) -> None:
    columns = set(columns)
    missing = [key for key in REQUIRED if key not in columns]
    if "options" not in columns and not {"A", "B"} <= columns:
        missing.append("options (or A, B, ...)")
    if missing:
        raise SourceError(f"{path}: missing columns {missing} (expected {EXPECTED})")


def _csv_rows(path: Path, check: SourceCheck) -> Iterator[tuple[str, dict]]:
    for line, row in delimited_rows(path, ",", (*REQUIRED, "A", "B"), EXPECTED):
        where = f"{path}: line {line} (id {row.get('id')!r})"
        if ragged(row):
            check.bad(where, "the row's fields do not match the header's columns (a comma in an unquoted field?)")
            continue
        yield where, row


def _jsonl_rows(path: Path, check: SourceCheck) -> Iterator[tuple[str, dict]]:
    for line, row, problem in jsonl_lines(path):
        if problem:
            check.bad(f"{path}: line {line}", problem)
            continue
        yield f"{path}: line {line} (id {row.get('id')!r})", row


def _item(
    row: dict, where: str, categories: Categories, images: _Images, check: SourceCheck, ids: set
) -> SourceItem | None:
    """The row as an item, or None when it is left out or bad (recorded)."""
    missing = [key for key in REQUIRED if _absent(row.get(key))]
    if row.get("options") is None and _absent(row.get("A")):
        missing.append("options")
    if missing:
        check.bad(where, f"missing or blank {missing}")
        return None
    if not check.unique(text(row["id"]), ids, where):
        return None
    qtype = categories.kept(row["category"], check, where)
    if qtype is None:
        return None
    options = _options(row, check, where)
    if options is None:
        return None
    image = images.of(row["image"], check, where)
    if image is None:
        return None
    return SourceItem(
        id=text(row["id"]),
        qtype=qtype,
        question=with_hint(text(row.get("hint")), text(row["question"])),
        options=options,
        answer=text(row["answer"]),
        image=image[0],
        image_name=image[1],
        where=where,
    )


def _options(row: dict, check: SourceCheck, where: str) -> list[str] | None:
    """The option texts of a row: its `options` list, or its columns A..J; None when bad (recorded)."""
    if row.get("options") is not None:
        options = row["options"]
        if not isinstance(options, list) or not all(isinstance(option, str) for option in options):
            check.bad(where, f"options must be a list of texts, got {options!r}")
            return None
        return [option.strip() for option in options]
    options = lettered_options(row, _absent)
    if options is None:
        check.bad(where, "options must be consecutive from A")
    return options


def _absent(value) -> bool:
    return value is None or isinstance(value, str) and not value.strip()


class _Images:
    """Where each row's image is: a file under `image_dir`, or an embedded picture written to `scratch`."""

    def __init__(self, image_dir: Path | None, scratch: Path):
        self.image_dir, self.scratch = image_dir, scratch
        self.claimed: dict[str, str] = {}  # a name under scratch -> the content hash written there

    def of(self, value, check: SourceCheck, where: str) -> tuple[Path, str] | None:
        """(the file to stage, its name under images/), or None when the row is bad (recorded)."""
        if isinstance(value, dict) and value.get("bytes") is None:
            value = value.get("path")  # datasets' Image feature pointing at a file
        if isinstance(value, str):
            name = _relative(value)
            if name is None:
                check.bad(where, f"image {value!r} is not a relative path under benchmark.image_dir")
            elif self.image_dir is None:
                check.bad(where, f"image {value!r} names a file, but benchmark.image_dir is not set")
            else:
                return self.image_dir / name, name
            return None
        picture = shards.embedded_picture(value)
        if picture is None:
            check.bad(where, "image holds no picture (expected a file path, or an image's bytes embedded in parquet)")
            return None
        data, suffix = picture
        digest = hashlib.sha256(data).hexdigest()
        name = _relative(value["path"]) if isinstance(value, dict) and value.get("path") else None
        if name is None or self.claimed.setdefault(name, digest) != digest:
            name = f"{digest[:16]}.{suffix}"  # no path, or one another picture already took
        (self.scratch / name).parent.mkdir(parents=True, exist_ok=True)
        return shards.write_once(data, self.scratch / name), name


def _relative(path: str) -> str | None:
    """`path` as a relative path that stays under its folder ("charts/a.png"); None when it is not one."""
    parts = PurePosixPath(path.strip())
    if not path.strip() or parts.is_absolute() or ".." in parts.parts:
        return None
    return parts.as_posix()
