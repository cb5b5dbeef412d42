"""A-OKVQA JSON (a list of {"question_id", "image_id", "question", "choices", "correct_choice_idx"}),
images from COCO 2017 under `benchmark.image_dir` (`<image_id:012d>.jpg`), multiple-choice setting.
A-OKVQA has no question types, so a classification file (`benchmark.qtype_file`: JSON object
question_id -> type id or name, e.g. written by an LLM classifier) supplies them."""

from pathlib import Path

from dataengine.core.formats import LETTERS
from dataengine.core.jsonl import read_json
from dataengine.core.qtypes import TypeTable
from dataengine.data.benchmarks.items import SourceItem, keep_item, kept_qtype
from dataengine.data.sources import SourceCheck, SourceError, describe, object_rows, require_keys

SOURCE_KEYS = ("path", "qtype_file", "image_dir")
FIELDS = ("question_id", "image_id", "question", "choices", "correct_choice_idx")


def read(cfg: dict, types: TypeTable, check: SourceCheck, scratch: Path) -> list[SourceItem]:
    require_keys(cfg, "benchmark", "aokvqa", *SOURCE_KEYS)
    path, images, classes_path = Path(cfg["path"]), Path(cfg["image_dir"]), Path(cfg["qtype_file"])
    data, classes = read_json(path), read_json(classes_path)
    if not isinstance(data, list):
        raise SourceError(f"{path}: expected A-OKVQA's JSON, a list of questions; got {describe(data)}")
    if not isinstance(classes, dict):
        raise SourceError(f"{classes_path}: expected a JSON object question_id -> type; got {describe(classes)}")
    items, ids = [], set()
    for where, question in object_rows(data, f"{path}: row", "question_id", check):
        missing = [key for key in FIELDS if key not in question]
        if missing:
            check.bad(where, f"missing keys {missing}")
            continue
        question_id = str(question["question_id"])
        if not check.unique(question_id, ids, where):
            continue
        if question_id not in classes:
            check.bad(where, f"no type for this question in {classes_path}")
            continue
        qtype = kept_qtype(classes[question_id], cfg, types, check, where)
        if qtype is None:
            continue
        choices, answer = question["choices"], question["correct_choice_idx"]
        if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS):
            check.bad(where, f"choices must be 2-{len(LETTERS)} texts, got {choices!r}")
            continue
        if not isinstance(answer, int) or not 0 <= answer < len(choices):
            check.bad(where, f"correct_choice_idx {answer!r} is not an index into the choices")
            continue
        if not isinstance(question["image_id"], int):
            check.bad(where, f"image_id {question['image_id']!r} is not a COCO image id")
            continue
        name = f"{question['image_id']:012d}.jpg"
        keep_item(
            SourceItem(
                id=f"aokvqa-{question_id}",
                qtype=qtype,
                question=str(question["question"]),
                options=[str(choice) for choice in choices],
                answer=LETTERS[answer],
                image=images / name,
                image_name=name,
                where=where,
            ),
            items,
            check,
        )
    return items
