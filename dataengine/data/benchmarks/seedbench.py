"""SEED-Bench (v1) JSON: {"questions": [{"question_id", "question", "choice_a".."choice_d", "answer",
"question_type_id", "data_id", "data_type"}]}; image items only (types 1-9), images under
`benchmark.image_dir` named by `data_id`."""

from pathlib import Path

from dataengine.core.jsonl import read_json
from dataengine.data.benchmarks.items import SourceItem, keep_item, kept_qtype
from dataengine.data.sources import SourceCheck, SourceError, describe, object_rows, require_keys

SOURCE_KEYS = ("path", "image_dir")
CHOICES = ("choice_a", "choice_b", "choice_c", "choice_d")
FIELDS = ("question_id", "question", *CHOICES, "answer", "question_type_id", "data_id")


def read(cfg: dict, qtypes: list[int], check: SourceCheck) -> list[SourceItem]:
    require_keys(cfg, "benchmark", "seedbench", *SOURCE_KEYS)
    path, images = Path(cfg["path"]), Path(cfg["image_dir"])
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        shape = describe(data) if not isinstance(data, dict) else "an object without a 'questions' list"
        raise SourceError(f"{path}: expected SEED-Bench's JSON, an object with a 'questions' list; got {shape}")
    items, ids = [], set()
    for where, question in object_rows(data["questions"], f"{path}: questions", "question_id", check):
        if question.get("data_type", "image") != "image":
            check.drop("not image questions (data_type video)")
            continue
        missing = [key for key in FIELDS if key not in question]
        if missing:
            check.bad(where, f"missing keys {missing}")
            continue
        if not check.unique(str(question["question_id"]), ids, where):
            continue
        qtype = kept_qtype(question["question_type_id"], cfg, qtypes, check, where)
        if qtype is None:
            continue
        if not isinstance(question["data_id"], str) or not question["data_id"]:
            check.bad(where, f"data_id {question['data_id']!r} does not name an image file")
            continue
        keep_item(
            SourceItem(
                id=f"seed-{question['question_id']}",
                qtype=qtype,
                question=str(question["question"]),
                options=["" if question[key] is None else str(question[key]) for key in CHOICES],
                answer=question["answer"],
                image=images / question["data_id"],
                image_name=Path(question["data_id"]).name,
                where=where,
            ),
            items,
            check,
        )
    return items
