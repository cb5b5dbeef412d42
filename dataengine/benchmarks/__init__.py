"""Real multiple-choice benchmarks read from the files users have on disk, written in the
benchmark/ contract (items.parquet + images/) and then checked by the same `load_items` every
later stage reads through.

A loader turns its format into `SourceItem`s, recording every bad row (the checks every format
shares in `keep_item`) and every item it leaves out in a `SourceCheck`; `build_real_benchmark`
stops with all the problems at once before writing anything, then stages the images, assigns the dev/test split and
writes the table. Each loader module names the config keys of the files and folders it reads
(`SOURCE_KEYS`), which the workflow fingerprints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from dataengine.benchmark import choice_problems, load_items, split_of, write_items
from dataengine.qtypes import QTYPES
from dataengine.sources import SourceCheck, configured_paths
from dataengine.staging import link_or_copy

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
    where: str  # the file and row it was read from, with the benchmark's own id, for errors
    group: int | None = None  # CircularEval group (MMBench): scored together, split together


def _loaders() -> dict[str, ModuleType]:
    from dataengine.benchmarks import aokvqa, mmbench, seedbench

    return {"seedbench": seedbench, "mmbench": mmbench, "aokvqa": aokvqa}


def source_paths(cfg: dict) -> list[tuple[str, str]]:
    """(config key, path) of every file and folder the configured benchmark reads; none for synthetic."""
    if cfg["kind"] == "synthetic":
        return []
    return configured_paths("benchmark", cfg, _loader(cfg["kind"]).SOURCE_KEYS)


def _loader(kind: str) -> ModuleType:
    loaders = _loaders()
    if kind not in loaders:
        raise ValueError(f"unknown benchmark kind {kind!r}; known: {sorted(loaders)}")
    return loaders[kind]


def build_real_benchmark(kind: str, out_dir: Path, cfg: dict, qtypes: list[int], seed: int):
    """Read a benchmark of `kind` from cfg's paths, keep the items of `qtypes`, write out_dir."""
    check = SourceCheck(f"benchmark {kind}")
    items = _loader(kind).read(cfg, qtypes, check)
    check.images(item.image for item in items if isinstance(item.image, Path))
    check.raise_problems()
    check.log_dropped(kept=len(items))
    if not items:
        raise ValueError(f"benchmark {kind}: no item of the configured qtypes {qtypes} in {cfg.get('path')}")
    out_dir = Path(out_dir)
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


def keep_item(item: SourceItem, items: list[SourceItem], check: SourceCheck) -> None:
    """Append `item` when it is a usable multiple-choice item (the rules items.parquet is held to),
    else record why not."""
    problems = choice_problems(item.question, item.options, item.answer)
    for problem in problems:
        check.bad(item.where, problem)
    if not problems:
        items.append(item)


def require(cfg: dict, kind: str, *keys: str) -> None:
    """A clear error for the kind-specific config keys a loader needs."""
    missing = [key for key in keys if not cfg.get(key)]
    if missing:
        raise ValueError(f"benchmark kind {kind!r} needs the config keys {['benchmark.' + k for k in missing]}")


def kept_qtype(value, cfg: dict, qtypes: list[int], check: SourceCheck, where: str) -> int | None:
    """A source type (id or name) as one of our qtype ids via `benchmark.qtype_map` (absent: the value
    itself must be an id), or None when the item is left out: the map sends it to null, the id is not
    a known type, or the type is not in `qtypes` (each counted), or the row is bad (recorded)."""
    qtype_map = cfg.get("qtype_map") or {}
    if qtype_map:
        if str(value) not in qtype_map:
            check.bad(where, f"type {value!r} is not in benchmark.qtype_map ({sorted(qtype_map)})")
            return None
        value = qtype_map[str(value)]
        if value is None:
            check.drop("of a type benchmark.qtype_map maps to null")
            return None
    try:
        qtype = int(value)
    except (TypeError, ValueError):
        check.bad(where, f"type {value!r} is not a qtype id; map it with benchmark.qtype_map")
        return None
    if qtype not in QTYPES:
        check.drop(f"of an unknown type id (known: {min(QTYPES)}-{max(QTYPES)})")
        return None
    if qtype not in qtypes:
        check.drop(f"of a type outside qtypes {sorted(qtypes)}")
        return None
    return qtype
