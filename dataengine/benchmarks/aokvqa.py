"""A-OKVQA JSON (a list of {"question_id", "image_id", "question", "choices", "correct_choice_idx"}),
images from COCO 2017 under `benchmark.image_dir` (`<image_id:012d>.jpg`), multiple-choice setting.
A-OKVQA has no question types, so a classification file (`benchmark.qtype_file`: JSON object
question_id -> type id or name, e.g. written by an LLM classifier) supplies them."""

from pathlib import Path

from dataengine.benchmarks import SourceItem, mapped_qtype, require
from dataengine.formats import LETTERS
from dataengine.jsonl import read_json

FIELDS = ("question_id", "image_id", "question", "choices", "correct_choice_idx")


def read(cfg: dict, qtypes: list[int]) -> list[SourceItem]:
    require(cfg, "aokvqa", "path", "image_dir", "qtype_file")
    path, images = Path(cfg["path"]), Path(cfg["image_dir"])
    data = read_json(path)
    types = read_json(cfg["qtype_file"])
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of questions (A-OKVQA's format)")
    items = []
    for row, question in enumerate(data):
        where = f"{path}: row {row} (question_id {question.get('question_id')!r})"
        missing = [key for key in FIELDS if key not in question]
        if missing:
            raise ValueError(f"{where}: missing keys {missing}")
        if question["question_id"] not in types:
            raise ValueError(f"{where}: no type for this question in {cfg['qtype_file']}")
        qtype = mapped_qtype(types[question["question_id"]], cfg.get("qtype_map") or {}, where)
        if qtype not in qtypes:
            continue
        choices, answer = question["choices"], question["correct_choice_idx"]
        if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS):
            raise ValueError(f"{where}: choices must be 2-4 texts, got {choices!r}")
        if not isinstance(answer, int) or not 0 <= answer < len(choices):
            raise ValueError(f"{where}: correct_choice_idx {answer!r} is not an index into the choices")
        name = f"{int(question['image_id']):012d}.jpg"
        items.append(
            SourceItem(
                id=f"aokvqa-{question['question_id']}",
                qtype=qtype,
                question=str(question["question"]),
                options=[str(choice) for choice in choices],
                answer=LETTERS[answer],
                image=images / name,
                image_name=name,
            )
        )
    return items
