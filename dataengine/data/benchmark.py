"""The evaluation benchmark: the synthetic one built from rendered scenes, the writer real loaders
(dataengine/data/benchmarks/) share, and the checked loader every later stage reads it through
(docs/contracts.md, "benchmark/")."""

import hashlib
import os
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from dataengine.core.formats import LETTERS
from dataengine.core.joblog import progress
from dataengine.core.qtypes import SEED_TABLE
from dataengine.data.synthetic.questions import make_question
from dataengine.data.synthetic.render import draw_unseen_scene

SPLITS = ("dev", "test")
ITEM_SCHEMA = {
    "id": pl.String,
    "image": pl.String,
    "qtype": pl.Int64,
    "question": pl.String,
    "options": pl.List(pl.String),
    "answer": pl.String,
    "split": pl.String,
}
# Optional: items scored together (MMBench's CircularEval: the rotations of one question).
GROUP_COLUMN = "group"
GROUP_DTYPE = pl.Int64
# Optional: the benchmark's own taxonomy, reported beside the qtypes (MMBench's category and l2-category).
CATEGORY_COLUMNS = ("category", "l2_category")
OPTIONAL_SCHEMA = {GROUP_COLUMN: GROUP_DTYPE, **dict.fromkeys(CATEGORY_COLUMNS, pl.String)}


def build_synthetic_benchmark(
    out_dir: Path,
    qtypes: list[int],
    n_dev: int,
    n_test: int,
    seed: int,
    image_size: int = 64,
    world: str = "default",
) -> pl.DataFrame:
    """Write out_dir/items.parquet and out_dir/images/: per type n_dev dev then n_test test items.

    Each type draws from its own stream (seed, qtype), so adding or dropping a type leaves the items
    of the others unchanged; ids are `b<qtype>-<index>`. No image repeats within a type, so dev and
    test never share one. `world` is the synthetic world drawn (dataengine.data.synthetic.world.WORLDS).
    """
    out_dir = Path(out_dir)
    images_dir = out_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for qtype in qtypes:
        SEED_TABLE.name(qtype)
        rng = np.random.default_rng([seed, qtype])
        seen: set[str] = set()
        for index in progress(range(n_dev + n_test), desc=f"benchmark type {qtype}"):
            scene, png, _ = draw_unseen_scene(qtype, rng, seen, image_size, world)
            question = make_question(qtype, scene, rng)
            if question is None:
                raise RuntimeError(f"scene family of type {qtype} drew a scene that does not support it: {scene}")
            item_id = f"b{qtype}-{index:06d}"
            image = f"images/{item_id}.png"
            (out_dir / image).write_bytes(png)
            rows.append(
                {
                    "id": item_id,
                    "image": image,
                    "qtype": qtype,
                    "question": question.question,
                    "options": list(question.options),
                    "answer": LETTERS[question.answer_index],
                    "split": "dev" if index < n_dev else "test",
                }
            )
    return write_items(out_dir, rows)


def write_items(out_dir: Path, rows: Sequence[dict]) -> pl.DataFrame:
    """Write out_dir/items.parquet atomically (`group`, `category`, `l2_category` keys in the rows become
    the optional columns)."""
    schema = dict(ITEM_SCHEMA) | {key: dtype for key, dtype in OPTIONAL_SCHEMA.items() if rows and key in rows[0]}
    items = pl.DataFrame(list(rows), schema=schema)
    tmp = Path(out_dir) / ".items.parquet.tmp"
    items.write_parquet(tmp)
    os.replace(tmp, Path(out_dir) / "items.parquet")
    return items


def split_of(key: Hashable, dev_share: float, seed: int) -> str:
    """'dev' or 'test' from a seeded hash of `key`: stable whatever else is in the benchmark, and
    items sharing a key (an image, a circular group) always land in the same split."""
    if not 0.0 <= dev_share <= 1.0:
        raise ValueError(f"dev_share must be in [0, 1], got {dev_share}")
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return "dev" if int.from_bytes(digest[:8], "little") / 2**64 < dev_share else "test"


def load_items(path: Path) -> pl.DataFrame:
    """Read items.parquet and check every row (all problems in one error); images are resolved
    against the file's folder."""
    path = Path(path)
    items = pl.read_parquet(path)
    missing_columns = [c for c in ITEM_SCHEMA if c not in items.columns]
    if missing_columns:
        raise ValueError(f"{path}: missing columns {missing_columns}")
    if items["id"].is_duplicated().any():
        duplicates = items.filter(pl.col("id").is_duplicated())["id"].unique().sort().to_list()
        raise ValueError(f"{path}: duplicate item ids {duplicates[:10]}")
    problems, missing_images = [], []
    for row in items.iter_rows(named=True):
        problems += [f"item {row['id']!r}: {problem}" for problem in _item_problems(row)]
        if not (path.parent / row["image"]).is_file():
            missing_images.append(row["image"])
    if problems:
        raise ValueError(f"{path}: {len(problems)} bad items:\n  " + "\n  ".join(problems[:50]))
    if missing_images:
        raise FileNotFoundError(
            f"{path}: {len(missing_images)} images missing under {path.parent}: {missing_images[:20]}"
        )
    return items


def choice_problems(question, options, answer) -> list[str]:
    """What keeps one multiple-choice item from being used (none: it is fine). The same rules hold
    for a real benchmark's source rows and for items.parquet."""
    problems = []
    if not isinstance(question, str) or not question.strip():
        problems.append("empty question")
    if options is None or not 2 <= len(options) <= len(LETTERS):
        problems.append(f"needs 2-{len(LETTERS)} options, got {options!r}")
        return problems
    if not all(isinstance(option, str) and option.strip() for option in options):
        problems.append(f"empty option in {list(options)!r}")
    repeated = sorted({option for option in options if list(options).count(option) > 1})
    if repeated:
        problems.append(f"duplicate options {repeated} in {list(options)!r}")
    if answer not in tuple(LETTERS[: len(options)]):
        problems.append(f"answer {answer!r} is not one of {', '.join(LETTERS[: len(options)])}")
    return problems


def _item_problems(row: dict) -> list[str]:
    problems = choice_problems(row["question"], row["options"], row["answer"])
    if not isinstance(row["qtype"], int) or row["qtype"] < 1:
        problems.append(f"qtype {row['qtype']!r} is not a type id (a positive integer)")
    if row["split"] not in SPLITS:
        problems.append(f"split {row['split']!r} is not one of {SPLITS}")
    return problems
