"""Real multiple-choice benchmarks read from the files users have on disk, written in the
benchmark/ contract (items.parquet + images/) and then checked by the same `load_items` every
later stage reads through.

A loader is a module with `read(cfg, types, check, scratch) -> list[SourceItem]`: it turns its
format into `SourceItem`s of the run's types (a TypeTable: SEED-Bench's ids, or the benchmark's own
categories by name; dataengine.core.qtypes), recording every bad row (the checks every format shares
in `keep_item`) and every item it leaves out in a `SourceCheck`; images embedded in its files it may
write to a scratch folder beside the output, removed afterwards. `build_real_benchmark` stops with
all the problems at once before writing anything, then stages the images, assigns the dev/test split
and writes the table. Each loader module names the config keys of the files and folders it reads
(`SOURCE_KEYS`), which the workflow fingerprints.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from types import ModuleType

from dataengine.core.qtypes import TypeTable
from dataengine.core.staging import link_or_copy
from dataengine.data.benchmark import OPTIONAL_SCHEMA, load_items, split_of, write_items
from dataengine.data.benchmarks.items import SourceItem
from dataengine.data.sources import SourceCheck, configured_paths

log = logging.getLogger("dataengine")


def loaders() -> dict[str, ModuleType]:
    """The loader module of each real benchmark kind (imported when asked for)."""
    from dataengine.data.benchmarks import aokvqa, generic, mmbench, seedbench

    return {"seedbench": seedbench, "mmbench": mmbench, "aokvqa": aokvqa, "generic": generic}


def source_paths(cfg: dict, section: str = "benchmark") -> list[tuple[str, str]]:
    """(config key, path) of every file and folder the benchmark configured at `section` reads; none
    for synthetic."""
    if cfg["kind"] == "synthetic":
        return []
    return configured_paths(section, cfg, _loader(cfg["kind"]).SOURCE_KEYS)


def _loader(kind: str) -> ModuleType:
    known = loaders()
    if kind not in known:
        raise ValueError(f"unknown benchmark kind {kind!r}; known: {sorted(known)}")
    return known[kind]


def build_real_benchmark(kind: str, out_dir: Path, cfg: dict, types: TypeTable, seed: int):
    """Read a benchmark of `kind` from cfg's paths, keep the items of the run's `types`, write out_dir."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".source-images-", dir=out_dir.parent) as scratch:
        check = SourceCheck(f"benchmark {kind}")
        items = _loader(kind).read(cfg, types, check, Path(scratch))
        check.images(item.image for item in items if isinstance(item.image, Path))
        check.raise_problems()
        check.log_dropped(kept=len(items))
        if not items:
            raise ValueError(f"benchmark {kind}: no item of the run's types ({types.listing()}) in {cfg.get('path')}")
        return _write(items, out_dir, cfg, kind, seed)


def _write(items: list[SourceItem], out_dir: Path, cfg: dict, kind: str, seed: int):
    """Stage the items' images under out_dir/images and write out_dir/items.parquet."""
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    staged, rows = set(), []
    optional = [key for key in OPTIONAL_SCHEMA if any(getattr(item, key) is not None for item in items)]
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
        rows.append(row | {key: getattr(item, key) for key in optional})
    write_items(out_dir, rows)
    log.info("benchmark %s: %d items, %d images", kind, len(rows), len(staged))
    return load_items(out_dir / "items.parquet")


def _stage(item: SourceItem, destination: Path) -> None:
    if isinstance(item.image, Path):
        link_or_copy(item.image, destination)
    else:
        destination.write_bytes(item.image)
