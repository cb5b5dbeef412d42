"""SEED-Bench (v1) in either of its two forms, chosen by what `benchmark.path` holds:
- the release's JSON: {"questions": [{"question_id", "question", "choice_a".."choice_d", "answer",
  "question_type_id", "data_id", "data_type"}]}, images under `benchmark.image_dir` named by `data_id`;
- the Hugging Face copy (lmms-lab/SEED-Bench, a folder of parquet shards): the same fields per row and
  the question's images embedded in `image` (dataengine.data.benchmarks.shards).
Image items only (types 1-9); a question reads as the same item from either form."""

from collections.abc import Callable, Iterator
from pathlib import Path

from dataengine.core.jsonl import read_json
from dataengine.core.qtypes import TypeTable
from dataengine.data.benchmarks import shards
from dataengine.data.benchmarks.items import SourceItem, keep_item, kept_qtype
from dataengine.data.sources import SourceCheck, SourceError, describe, object_rows, require_keys

SOURCE_KEYS = ("path", "image_dir")
CHOICES = ("choice_a", "choice_b", "choice_c", "choice_d")
FIELDS = ("question_id", "question", *CHOICES, "answer", "question_type_id", "data_id")
SHARD_COLUMNS = (*FIELDS, "data_type", "image")

# Where a kept question's image is: (question, where) -> a file to stage, or None (the row recorded as bad).
ImageOf = Callable[[dict, str], Path | None]


def read(cfg: dict, types: TypeTable, check: SourceCheck, scratch: Path) -> list[SourceItem]:
    path = Path(cfg["path"]) if cfg.get("path") else None
    if path is not None and shards.holds_shards(path):
        questions, image_of = _shard_questions(path, cfg.get("split"), scratch, check)
    else:
        require_keys(cfg, "benchmark", "seedbench", *SOURCE_KEYS)
        questions, image_of = _json_questions(path, Path(cfg["image_dir"]), check)
    items, ids = [], set()
    for where, question in questions:
        if question.get("data_type", "image") != "image":
            check.drop("not image questions (data_type video)")
            continue
        missing = [key for key in FIELDS if key not in question]
        if missing:
            check.bad(where, f"missing keys {missing}")
            continue
        if not check.unique(str(question["question_id"]), ids, where):
            continue
        qtype = kept_qtype(question["question_type_id"], cfg, types, check, where)
        if qtype is None:
            continue
        if not isinstance(question["data_id"], str) or not question["data_id"]:
            check.bad(where, f"data_id {question['data_id']!r} does not name an image file")
            continue
        image = image_of(question, where)
        if image is None:
            continue
        keep_item(
            SourceItem(
                id=f"seed-{question['question_id']}",
                qtype=qtype,
                question=str(question["question"]),
                options=["" if question[key] is None else str(question[key]) for key in CHOICES],
                answer=question["answer"],
                image=image,
                image_name=Path(question["data_id"]).name,
                where=where,
            ),
            items,
            check,
        )
    return items


def _json_questions(path: Path, images: Path, check: SourceCheck) -> tuple[Iterator[tuple[str, dict]], ImageOf]:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        shape = describe(data) if not isinstance(data, dict) else "an object without a 'questions' list"
        raise SourceError(f"{path}: expected SEED-Bench's JSON, an object with a 'questions' list; got {shape}")
    return object_rows(data["questions"], f"{path}: questions", "question_id", check), (
        lambda question, where: images / question["data_id"]
    )


def _shard_questions(
    path: Path, split: str | None, scratch: Path, check: SourceCheck
) -> tuple[Iterator[tuple[str, dict]], ImageOf]:
    def image_of(question: dict, where: str) -> Path | None:
        picture = shards.embedded_picture(question["image"])
        if picture is None:
            check.bad(where, shards.NO_PICTURE)
            return None
        return shards.write_once(picture[0], scratch / Path(question["data_id"]).name)

    return shards.rows(path, split, SHARD_COLUMNS, "question_id"), image_of
