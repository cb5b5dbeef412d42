"""Image pools from real annotations (COCO, Visual Genome), written in the pool/ contract
(annotations.jsonl + images/) and never holding a benchmark image.

A reader turns its format into `SourceImage`s with captions and boxes normalised to 0-1, recording
every bad row in a `SourceCheck`; `build_real_pool` draws at most `max_images` of them (seeded),
stops with every problem at once before writing anything, hashes each image, drops those whose
content is the benchmark's (or already in the pool), stages the rest and writes the records. Each
reader module names the config keys of the files and folders it reads (`SOURCE_KEYS`).
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from dataengine.core.jsonl import write_jsonl
from dataengine.core.staging import link_or_copy
from dataengine.data.pool import ANNOTATIONS, image_sha256, load_pool
from dataengine.data.sources import SourceCheck, configured_paths

log = logging.getLogger("dataengine")


@dataclass(frozen=True)
class PoolBuild:
    """What went into the pool and what was dropped, for the log and the tests."""

    records: list[dict]
    benchmark_images: list[str]  # image ids dropped because the benchmark holds the same content
    duplicates: list[str]  # image ids dropped because the pool already holds the same content


def readers() -> dict[str, ModuleType]:
    """The reader module of each real pool kind (imported when asked for)."""
    from dataengine.data.pools import coco, visual_genome

    return {"coco": coco, "visual_genome": visual_genome}


def _reader(kind: str) -> ModuleType:
    known = readers()
    if kind not in known:
        raise ValueError(f"unknown pool kind {kind!r}; known: {sorted(known)}")
    return known[kind]


def source_paths(cfg: dict) -> list[tuple[str, str]]:
    """(config key, path) of every file and folder the configured pool reads; none for synthetic."""
    if cfg["kind"] == "synthetic":
        return []
    return configured_paths("pool", cfg, _reader(cfg["kind"]).SOURCE_KEYS)


def build_real_pool(kind: str, out_dir: Path, cfg: dict, exclude_sha256: set[str], seed: int) -> PoolBuild:
    check = SourceCheck(f"pool {kind}")
    sources = _reader(kind).read(cfg, check)
    limit = cfg.get("max_images")
    if limit is not None and limit < len(sources):
        keep = np.random.default_rng([seed, 0x9002]).choice(len(sources), size=limit, replace=False)
        check.drop(f"not drawn (pool.max_images {limit})", len(sources) - limit)
        sources = [sources[i] for i in sorted(keep)]
    check.images(source.path for source in sources)
    check.raise_problems()
    check.log_dropped(kept=len(sources))
    out_dir = Path(out_dir)
    seen = set(exclude_sha256)
    records, in_benchmark, duplicates = [], [], []
    for source in sources:
        sha = image_sha256(source.path)
        if sha in seen:
            (in_benchmark if sha in exclude_sha256 else duplicates).append(source.image_id)
            continue
        seen.add(sha)
        image = f"images/{source.path.name}"
        link_or_copy(source.path, out_dir / image)
        records.append(
            {
                "image_id": source.image_id,
                "image": image,
                "sha256": sha,
                "captions": source.captions,
                "objects": [
                    {"category": o["category"], "color": None, "size": None, "box": o["box"]} for o in source.objects
                ],
                "background": None,
                "text": None,
                "qtypes": None,
            }
        )
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    write_jsonl(out_dir / ANNOTATIONS, records)
    load_pool(out_dir / ANNOTATIONS)
    return PoolBuild(records, in_benchmark, duplicates)
