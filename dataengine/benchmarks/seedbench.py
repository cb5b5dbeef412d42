"""SEED-Bench (v1) JSON: {"questions": [{"question_id", "question", "choice_a".."choice_d", "answer",
"question_type_id", "data_id", "data_type"}]}; image items only (types 1-9), images under
`benchmark.image_dir` named by `data_id`."""

from pathlib import Path

from dataengine.benchmarks import SourceItem, mapped_qtype, require
from dataengine.jsonl import read_json

CHOICES = ("choice_a", "choice_b", "choice_c", "choice_d")
FIELDS = ("question_id", "question", *CHOICES, "answer", "question_type_id", "data_id")


def read(cfg: dict, qtypes: list[int]) -> list[SourceItem]:
    require(cfg, "seedbench", "path", "image_dir")
    path, images = Path(cfg["path"]), Path(cfg["image_dir"])
    data = read_json(path)
    if not isinstance(data.get("questions"), list):
        raise ValueError(f"{path}: no 'questions' list (is this SEED-Bench's JSON?)")
    items = []
    for row, question in enumerate(data["questions"]):
        where = f"{path}: questions[{row}] (question_id {question.get('question_id')!r})"
        if question.get("data_type", "image") != "image":
            continue  # video dimensions (10-12) are not image questions
        missing = [key for key in FIELDS if key not in question]
        if missing:
            raise ValueError(f"{where}: missing keys {missing}")
        qtype = mapped_qtype(question["question_type_id"], cfg.get("qtype_map") or {}, where)
        if qtype not in qtypes:
            continue
        if question["answer"] not in "ABCD" or len(question["answer"]) != 1:
            raise ValueError(f"{where}: answer {question['answer']!r} is not A-D")
        items.append(
            SourceItem(
                id=f"seed-{question['question_id']}",
                qtype=qtype,
                question=str(question["question"]),
                options=[str(question[key]) for key in CHOICES],
                answer=question["answer"],
                image=images / question["data_id"],
                image_name=Path(question["data_id"]).name,
            )
        )
    return items
