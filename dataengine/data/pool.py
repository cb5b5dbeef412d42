"""The image pool the teacher writes samples from: synthetic scenes with exact annotations, never an
image of the benchmark (content hash), and the checked loader (docs/contracts.md, "pool/")."""

import hashlib
from pathlib import Path

import numpy as np

from dataengine.core.joblog import progress
from dataengine.core.jsonl import read_jsonl, write_jsonl
from dataengine.core.qtypes import SEED_TABLE, SEED_TYPES
from dataengine.data.synthetic.annotations import scene_to_annotation
from dataengine.data.synthetic.render import draw_unseen_scene

ANNOTATIONS = "annotations.jsonl"
REQUIRED_KEYS = ("image_id", "image", "sha256", "captions", "objects", "background", "text", "qtypes")
OBJECT_KEYS = ("category", "color", "size", "box")


def image_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_synthetic_pool(
    out_dir: Path,
    n_images: int,
    seed: int,
    qtypes: list[int] | None,
    exclude_sha256: set[str],
    image_size: int = 64,
    world: str = "default",
) -> list[dict]:
    """Write out_dir/annotations.jsonl and out_dir/images/: image i comes from the scene family of
    the SEED type qtypes[i % len(qtypes)], so families are spread evenly; an image whose hash is
    excluded (the benchmark's) or already in the pool is redrawn. `world` must be the benchmark's.
    Each image lists the SEED types it can carry. None (a benchmark with its own categories) draws
    every family and leaves the images untyped: SEED's ids mean nothing to the run's types."""
    typed = qtypes is not None
    qtypes = list(SEED_TYPES) if qtypes is None else qtypes
    if not qtypes:
        raise ValueError("build_synthetic_pool needs at least one question type")
    for qtype in qtypes:
        SEED_TABLE.name(qtype)
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0x9001])  # a stream apart from the benchmark's (seed, qtype) ones
    seen = set(exclude_sha256)
    records = []
    for index in progress(range(n_images), desc="pool"):
        qtype = qtypes[index % len(qtypes)]
        scene, png, sha = draw_unseen_scene(qtype, rng, seen, image_size, world)
        image_id = f"p{index:06d}"
        image = f"images/{image_id}.png"
        (out_dir / image).write_bytes(png)
        annotation = scene_to_annotation(scene, image_id, image, sha)
        records.append(annotation if typed else annotation | {"qtypes": None})
    write_jsonl(out_dir / ANNOTATIONS, records)
    return records


def load_pool(path: str | Path) -> list[dict]:
    """Read annotations.jsonl and check every record; images resolve against the file's folder and
    missing ones are listed all at once."""
    path = Path(path)
    records = read_jsonl(path)
    seen_ids = set()
    missing_images = []
    for line_no, record in enumerate(records, start=1):
        where = f"{path}: record {line_no} ({record.get('image_id', '<no image_id>')})"
        _check_record(where, record)
        if record["image_id"] in seen_ids:
            raise ValueError(f"{where}: duplicate image_id")
        seen_ids.add(record["image_id"])
        if not (path.parent / record["image"]).is_file():
            missing_images.append(record["image"])
    if missing_images:
        raise FileNotFoundError(f"{path}: {len(missing_images)} images missing: {missing_images[:20]}")
    return records


def _check_record(where: str, record: dict) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise ValueError(f"{where}: missing keys {missing}")
    if not isinstance(record["captions"], list) or not all(isinstance(c, str) for c in record["captions"]):
        raise ValueError(f"{where}: captions must be a list of strings")
    if not isinstance(record["objects"], list):
        raise ValueError(f"{where}: objects must be a list")
    for i, obj in enumerate(record["objects"]):
        missing = [k for k in OBJECT_KEYS if k not in obj]
        if missing:
            raise ValueError(f"{where}: objects[{i}] missing keys {missing}")
        box = obj["box"]
        valid = isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box)
        if not valid or not (0 <= box[0] <= box[2] <= 1 and 0 <= box[1] <= box[3] <= 1):
            raise ValueError(f"{where}: objects[{i}].box {box!r} is not [x0, y0, x1, y1] within 0-1")
    qtypes = record["qtypes"]
    if qtypes is not None and (not isinstance(qtypes, list) or not all(isinstance(q, int) and q > 0 for q in qtypes)):
        raise ValueError(f"{where}: qtypes {qtypes!r} must be null or a list of type ids")
