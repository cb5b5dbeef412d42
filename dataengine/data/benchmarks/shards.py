"""The Hugging Face copies of a benchmark (lmms-lab/SEED-Bench, lmms-lab/MMBench, as lmms-eval reads
them): parquet shards with the images embedded, `datasets`' Image feature stored as a struct of
`bytes` and `path` (a list of them where a question has several images).

A benchmark's `path` holds such a copy when it is a `.parquet` file or a folder; a folder's shards are
its `*.parquet` files, at any depth, in name order, or only those of one split (`benchmark.split`:
the hub names shards `<split>-00000-of-00001.parquet`). Rows are read a slice at a time, so that a
copy's images are never all in memory at once; the image of a kept item is written to a scratch
folder and staged from there like a file of the original release.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
from PIL import Image, UnidentifiedImageError

from dataengine.data.sources import SourceError

ROWS_PER_SLICE = 256


def holds_shards(path: Path) -> bool:
    """True when a benchmark path is a copy in parquet shards rather than the original release file."""
    return path.is_dir() or path.suffix == ".parquet"


def shard_files(path: Path, split: str | None) -> list[Path]:
    """The shards at `path` (a file, or a folder's parquet files), only `split`'s when it is given."""
    if path.is_file():
        return [path]
    shards = sorted(path.rglob("*.parquet"))
    if split is not None:
        shards = [shard for shard in shards if shard.name.startswith(f"{split}-")]
    if not shards:
        which = f" of split {split!r} (named {split}-*.parquet)" if split is not None else ""
        raise SourceError(f"{path}: no parquet shards{which} in this folder")
    return shards


def rows(path: Path, split: str | None, columns: tuple[str, ...], id_key: str) -> Iterator[tuple[str, dict]]:
    """(where, row) for every row of the shards, with `columns` only; `where` names the shard, the
    row's position in it and its own id. A shard without one of the columns stops the read."""
    for shard in shard_files(path, split):
        missing = [column for column in columns if column not in pl.read_parquet_schema(shard)]
        if missing:
            raise SourceError(f"{shard}: missing columns {missing} (expected the Hugging Face copy's schema)")
        table = pl.scan_parquet(shard).select(columns)
        count = table.select(pl.len()).collect().item()
        for start in range(0, count, ROWS_PER_SLICE):
            for offset, row in enumerate(table.slice(start, ROWS_PER_SLICE).collect().iter_rows(named=True)):
                yield f"{shard}: row {start + offset} ({id_key} {row[id_key]!r})", row


def embedded_picture(value) -> tuple[bytes, str] | None:
    """The bytes of an embedded image (the first of a list of them) and the file suffix of their
    format; None when the value holds no picture."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("bytes")
    if not isinstance(value, bytes):
        return None
    suffix = picture_format(value)
    return None if suffix is None else (value, suffix)


def picture_format(data: bytes) -> str | None:
    """The file suffix of an image file's bytes (png, jpeg ...); None when they are not a picture."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format.lower()
    except (UnidentifiedImageError, OSError):
        return None


def write_once(data: bytes, destination: Path) -> Path:
    """`destination` holding `data`, written the first time only (items may share an image)."""
    if not destination.is_file():
        destination.write_bytes(data)
    return destination


NO_PICTURE = "image holds no picture (expected an embedded image: a struct of bytes and path)"
