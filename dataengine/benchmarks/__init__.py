"""Real multiple-choice benchmarks read from the files users have on disk, written in the
benchmark/ contract (items.parquet + images/) and then checked by the same `load_items` every
later stage reads through.

A loader turns its format into `SourceItem`s; `build_real_benchmark` stages the images, assigns
the dev/test split and writes the table, so the formats differ only in how they are parsed.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dataengine.benchmark import load_items, split_of, write_items
from dataengine.staging import check_sources, link_or_copy

log = logging.getLogger("dataengine")


@dataclass(frozen=True)
class SourceItem:
    """One item as read from a benchmark's files, before its image is staged."""

    id: str
    qtype: int
    question: str
    options: list[str]
    answer: str  # the correct option's letter
    image: Path | bytes  # a file to stage, or the bytes of an image file (MMBench's base64 column)
    image_name: str  # file name under images/; items may share one
    group: int | None = None  # CircularEval group (MMBench): scored together, split together


Loader = Callable[[dict, list[int]], list[SourceItem]]


def _loaders() -> dict[str, Loader]:
    from dataengine.benchmarks import aokvqa, mmbench, seedbench

    return {"seedbench": seedbench.read, "mmbench": mmbench.read, "aokvqa": aokvqa.read}


def build_real_benchmark(kind: str, out_dir: Path, cfg: dict, qtypes: list[int], seed: int):
    """Read a benchmark of `kind` from cfg's paths, keep the items of `qtypes`, write out_dir."""
    loaders = _loaders()
    if kind not in loaders:
        raise ValueError(f"unknown benchmark kind {kind!r}; known: {sorted(loaders)}")
    items = loaders[kind](cfg, qtypes)
    if not items:
        raise ValueError(f"benchmark {kind}: no item of the configured qtypes {qtypes} in {cfg.get('path')}")
    out_dir = Path(out_dir)
    check_sources([item.image for item in items if isinstance(item.image, Path)], f"benchmark {kind}")
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    staged, rows = set(), []
    has_groups = any(item.group is not None for item in items)
    for item in items:
        if item.image_name not in staged:
            _stage(item, images / item.image_name)
            staged.add(item.image_name)
        row = {
            "id": item.id,
            "image": f"images/{item.image_name}",
            "qtype": item.qtype,
            "question": item.question,
            "options": item.options,
            "answer": item.answer,
            "split": split_of(item.group if item.group is not None else item.image_name, cfg["dev_share"], seed),
        }
        rows.append(row | ({"group": item.group} if has_groups else {}))
    write_items(out_dir, rows)
    log.info("benchmark %s: %d items, %d images", kind, len(rows), len(staged))
    return load_items(out_dir / "items.parquet")


def _stage(item: SourceItem, destination: Path) -> None:
    if isinstance(item.image, Path):
        link_or_copy(item.image, destination)
    else:
        destination.write_bytes(item.image)


def require(cfg: dict, kind: str, *keys: str) -> None:
    """A clear error for the kind-specific config keys a loader needs."""
    missing = [key for key in keys if not cfg.get(key)]
    if missing:
        raise ValueError(f"benchmark kind {kind!r} needs the config keys {['benchmark.' + k for k in missing]}")


def mapped_qtype(value, qtype_map: dict, where: str) -> int | None:
    """A source type (id or name) as one of our qtype ids via `qtype_map` (absent: the value itself
    must be an id); a map value of null drops the type. Unknown types stop the load naming the row."""
    if qtype_map:
        if str(value) not in qtype_map:
            raise ValueError(f"{where}: type {value!r} is not in benchmark.qtype_map ({sorted(qtype_map)})")
        value = qtype_map[str(value)]
        if value is None:
            return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: type {value!r} is not a qtype id; map it with benchmark.qtype_map") from None
