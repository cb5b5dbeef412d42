"""Tiny fixtures in the real formats (SEED-Bench, MMBench, A-OKVQA, COCO, Visual Genome), written by
the tests themselves: a few items, 8x8 images, one colour each so every file has its own content."""

import base64
import csv
import io
import json
from pathlib import Path

import polars as pl
from PIL import Image

from dataengine.core.qtypes import SEED_TYPES, TypeTable

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]


def png(colour: str, size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def seed_types(*ids: int) -> TypeTable:
    """A run's types: SEED-Bench's of these ids."""
    return TypeTable({qtype: SEED_TYPES[qtype] for qtype in ids})


def write_seedbench(root: Path) -> dict:
    """3 image questions (types 1, 3, 3) and a video one; returns the benchmark config."""
    images = root / "seed-images"
    images.mkdir(parents=True)
    questions = []
    for n, (qtype, colour) in enumerate([(1, "red"), (3, "green"), (3, "blue")]):
        (images / f"{n}_{colour}.jpg").write_bytes(png(colour))
        questions.append(
            {
                "question_id": str(100 + n),
                "question": f"What colour is picture {n}?",
                "choice_a": "red",
                "choice_b": "green",
                "choice_c": "blue",
                "choice_d": "yellow",
                "answer": "ABC"[n],
                "question_type_id": qtype,
                "data_id": f"{n}_{colour}.jpg",
                "data_type": "image",
            }
        )
    questions.append(
        {
            "question_id": "900",
            "question": "What happens next?",
            "choice_a": "a",
            "choice_b": "b",
            "choice_c": "c",
            "choice_d": "d",
            "answer": "A",
            "question_type_id": 10,
            "data_id": "v.mp4",
            "data_type": "video",
        }
    )
    path = root / "SEED-Bench.json"
    path.write_text(json.dumps({"question_type": {"Scene Understanding": 1}, "questions": questions}))
    return {"kind": "seedbench", "path": str(path), "image_dir": str(images)}


# The header of MMBench's released dev TSV (mmbench_dev_20230712.tsv); the loader reads columns by name.
MMBENCH_COLUMNS = [
    "index",
    "question",
    "hint",
    "A",
    "B",
    "C",
    "D",
    "answer",
    "category",
    "image",
    "source",
    "l2-category",
    "comment",
    "split",
]


def mmbench_rows() -> list[dict]:
    """Two questions in two circular rotations each (copies name their base image by index) and one
    two-option question without copies."""
    rows, l2 = [], "finegrained_perception (instance-level)"
    for base, colour, category in ((0, "red", "object_localization"), (1, "green", "attribute_recognition")):
        image = base64.b64encode(png(colour)).decode()
        options = ["red", "green", "blue", "yellow"]
        for turn in range(2):
            rotated = options[turn:] + options[:turn]
            rows.append(
                {
                    "index": base + turn * 1_000_000,
                    "question": "Which colour?",
                    "hint": "nan" if turn else "Look.",
                    "A": rotated[0],
                    "B": rotated[1],
                    "C": rotated[2],
                    "D": rotated[3],
                    "answer": "ABCD"[rotated.index(colour)],
                    "category": category,
                    "l2-category": l2,
                    "image": image if turn == 0 else str(base),
                }
            )
    rows.append(
        {
            "index": 2,
            "question": "Is it blue?",
            "hint": "",
            "A": "yes",
            "B": "no",
            "C": "nan",
            "D": "nan",
            "answer": "A",
            "category": "attribute_recognition",
            "l2-category": l2,
            "image": base64.b64encode(png("blue")).decode(),
        }
    )
    return rows


def write_mmbench(root: Path, rows: list[dict] | None = None) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "MMBench_DEV_EN.tsv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, MMBENCH_COLUMNS, delimiter="\t")
        writer.writeheader()
        extra = {"source": "MMBench", "comment": "nan", "split": "dev"}  # columns the loader does not read
        writer.writerows(extra | row for row in (rows if rows is not None else mmbench_rows()))
    qtype_map = {"object_localization": 4, "attribute_recognition": 3}
    return {"kind": "mmbench", "path": str(path), "qtype_map": qtype_map}


# The columns of the Hugging Face copies (lmms-lab/SEED-Bench, lmms-lab/MMBench) and `datasets`' Image
# feature as parquet stores it: a struct of the file's bytes and its path.
IMAGE = pl.Struct({"bytes": pl.Binary, "path": pl.String})
SEED_COLUMNS = {
    "answer": pl.String,
    **dict.fromkeys(["choice_a", "choice_b", "choice_c", "choice_d"], pl.String),
    "data_id": pl.String,
    "data_type": pl.String,
    "question": pl.String,
    "question_id": pl.String,
    "question_type_id": pl.Int16,
    "image": pl.List(IMAGE),
    "segment": pl.List(pl.Int64),
}
MMBENCH_SHARD_COLUMNS = {
    "index": pl.Int64,
    **dict.fromkeys(["question", "hint", "A", "B", "C", "D", "answer", "category"], pl.String),
    "image": IMAGE,
    **dict.fromkeys(["source", "L2-category", "comment", "split"], pl.String),
}


def write_seedbench_shards(root: Path, release: dict) -> dict:
    """The SEED-Bench fixture `release` (write_seedbench's config) as lmms-lab's copy: two shards under
    root/data, each question's image embedded; returns the benchmark config."""
    questions = json.loads(Path(release["path"]).read_text())["questions"]
    rows = []
    for question in questions:
        image = Path(release["image_dir"]) / question["data_id"]
        embedded = [{"bytes": image.read_bytes(), "path": question["data_id"]}] if image.is_file() else []
        rows.append(question | {"image": embedded, "segment": None})
    folder = root / "data"
    folder.mkdir(parents=True)
    half = len(rows) // 2
    for n, part in enumerate((rows[:half], rows[half:])):
        pl.DataFrame(part, schema=SEED_COLUMNS).write_parquet(folder / f"test-{n:05d}-of-00002.parquet")
    return {"kind": "seedbench", "path": str(root)}


def write_mmbench_shards(root: Path, rows: list[dict] | None = None) -> dict:
    """MMBench fixture rows (mmbench_rows) as lmms-lab's copy: root/en/dev-*.parquet, every row with its
    own image embedded, and a test shard whose answers are hidden; returns the benchmark config."""
    rows = rows if rows is not None else mmbench_rows()
    images = {str(row["index"]): row["image"] for row in rows if not str(row["image"]).isdigit()}
    dev = []
    for row in rows:
        picture = base64.b64decode(images[str(row["image"])] if str(row["image"]).isdigit() else row["image"])
        text = {key: None if value in ("nan", "") else value for key, value in row.items() if key != "l2-category"}
        dev.append(
            text
            | {"image": {"bytes": picture, "path": None}, "L2-category": row["l2-category"]}
            | {"source": "MMBench", "comment": None, "split": "dev"}
        )
    folder = root / "en"
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(dev, schema=MMBENCH_SHARD_COLUMNS).write_parquet(folder / "dev-00000-of-00001.parquet")
    hidden = [row | {"index": row["index"] + 5000, "answer": None, "split": "test"} for row in dev]
    pl.DataFrame(hidden, schema=MMBENCH_SHARD_COLUMNS).write_parquet(folder / "test-00000-of-00001.parquet")
    qtype_map = {"object_localization": 4, "attribute_recognition": 3}
    return {"kind": "mmbench", "path": str(folder), "split": "dev", "qtype_map": qtype_map}


def write_aokvqa(root: Path) -> dict:
    images = root / "val2017"
    images.mkdir(parents=True)
    rows, types = [], {}
    for n, colour in enumerate(["purple", "orange"]):
        (images / f"{n + 7:012d}.jpg").write_bytes(png(colour))
        rows.append(
            {
                "question_id": f"q{n}",
                "image_id": n + 7,
                "question": f"Why is it {colour}?",
                "choices": ["paint", "light", "dye", "sun"],
                "correct_choice_idx": n,
                "direct_answers": ["paint"] * 10,
                "difficult_direct_answer": False,
                "rationales": ["."],
            }
        )
        types[f"q{n}"] = "Visual Reasoning"
    path = root / "aokvqa_v1p0_val.json"
    path.write_text(json.dumps(rows))
    (root / "aokvqa_types.json").write_text(json.dumps(types))
    return {
        "kind": "aokvqa",
        "path": str(path),
        "image_dir": str(images),
        "qtype_file": str(root / "aokvqa_types.json"),
        "qtype_map": {"Visual Reasoning": 8},
    }


def write_coco(root: Path, colours=("white", "black", "purple"), size=(20, 10)) -> dict:
    """COCO captions + instances for one image per colour (20x10 pixels)."""
    folder = root / "train2017"
    folder.mkdir(parents=True)
    images, captions, instances = [], [], []
    for n, colour in enumerate(colours, start=1):
        name = f"{n:012d}.jpg"
        (folder / name).write_bytes(png(colour, size))
        images.append({"id": n, "file_name": name, "width": size[0], "height": size[1]})
        captions.append({"id": 10 + n, "image_id": n, "caption": f"A {colour} wall. "})
        instances.append({"id": 20 + n, "image_id": n, "category_id": 1, "bbox": [2.0, 1.0, 10.0, 5.0], "iscrowd": 0})
    instances.append({"id": 99, "image_id": 1, "category_id": 2, "bbox": [15.0, 5.0, 10.0, 10.0], "iscrowd": 0})
    (root / "captions.json").write_text(json.dumps({"images": images, "annotations": captions}))
    categories = [{"id": 1, "name": "wall", "supercategory": "x"}, {"id": 2, "name": "dog", "supercategory": "y"}]
    (root / "instances.json").write_text(
        json.dumps({"images": images, "annotations": instances, "categories": categories})
    )
    return {
        "kind": "coco",
        "captions": str(root / "captions.json"),
        "instances": str(root / "instances.json"),
        "image_dir": str(folder),
    }


def write_visual_genome(root: Path) -> dict:
    folders = [root / "VG_100K", root / "VG_100K_2"]
    for folder in folders:
        folder.mkdir(parents=True)
    (folders[0] / "1.jpg").write_bytes(png("red", (10, 20)))
    (folders[1] / "2.jpg").write_bytes(png("green", (10, 20)))
    objects = [
        {"image_id": 1, "objects": [{"object_id": 5, "x": 1, "y": 2, "w": 4, "h": 10, "names": ["tree"]}]},
        {"image_id": 2, "objects": []},
    ]
    regions = [
        {
            "id": 1,
            "regions": [
                {"region_id": 1, "image_id": 1, "phrase": "a tall tree", "x": 0, "y": 0, "width": 5, "height": 5}
            ],
        }
    ]
    (root / "objects.json").write_text(json.dumps(objects))
    (root / "regions.json").write_text(json.dumps(regions))
    return {
        "kind": "visual_genome",
        "objects": str(root / "objects.json"),
        "regions": str(root / "regions.json"),
        "image_dir": [str(f) for f in folders],
    }


# A generic benchmark (docs/benchmarks.md): three categories of its own; five questions on four images
# (c1 and t2 share one, m1's is in a subfolder) with 2 to 10 options, one with a hint.
GENERIC_CATEGORIES = ["Charts", "Tables", "Maps"]
GENERIC_ROWS = [
    {
        "id": "c1",
        "image": "red.png",
        "question": "Which bar is highest?",
        "hint": "The bars are coloured.",
        "options": ["red", "green", "blue"],
        "answer": "A",
        "category": "Charts",
    },
    {
        "id": "t1",
        "image": "blue.png",
        "question": "Is the total 12?",
        "options": ["yes", "no"],
        "answer": "B",
        "category": "Tables",
    },
    {
        "id": "m1",
        "image": "maps/yellow.png",
        "question": "Which region lies north?",
        "options": [f"region {n}" for n in range(10)],
        "answer": "J",
        "category": "Maps",
    },
    {
        "id": "c2",
        "image": "green.png",
        "question": "How many bars?",
        "options": ["1", "2", "3", "4", "5"],
        "answer": "E",
        "category": "Charts",
    },
    {
        "id": "t2",
        "image": "red.png",
        "question": "Which column is empty?",
        "options": ["a", "b", "c", "d"],
        "answer": "C",
        "category": "Tables",
    },
]
GENERIC_PARQUET = {
    "id": pl.String,
    "image": IMAGE,
    "question": pl.String,
    "hint": pl.String,
    "options": pl.List(pl.String),
    "answer": pl.String,
    "category": pl.String,
}


def write_generic(root: Path, form: str, rows: list[dict] = GENERIC_ROWS) -> dict:
    """`rows` in the generic format `form`: jsonl, csv (options in columns A..J) or parquet (each image
    embedded as datasets writes it, a struct of bytes and path); returns the benchmark config."""
    images = root / "images"
    for name in {row["image"] for row in rows if isinstance(row.get("image"), str)}:
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        (images / name).write_bytes(png(Path(name).stem))
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"bench.{form}"
    if form == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif form == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, ["id", "image", "question", "hint", *"ABCDEFGHIJ", "answer", "category"])
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {key: value for key, value in row.items() if key != "options"}
                    | dict(zip("ABCDEFGHIJ", row["options"]))
                )
    else:
        embedded = [
            row | {"image": {"bytes": (images / row["image"]).read_bytes(), "path": row["image"]}} for row in rows
        ]
        pl.DataFrame(embedded, schema=GENERIC_PARQUET).write_parquet(path)
        return {"kind": "generic", "path": str(path)}
    return {"kind": "generic", "path": str(path), "image_dir": str(images)}
