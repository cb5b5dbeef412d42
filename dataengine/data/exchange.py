"""Data in and out of the loop: the paper's released JSON as an incremental dataset, and our accepted
samples exported to the paper's JSON, LLaVA's conversation JSON (for LLaVA's own trainer) and the
ShareGPT layout (LLaMA-Factory, TRL). A run as a Hugging Face dataset is dataengine.runs.dataset.

The paper's README spells the letter key `choide_answer`, and released files carry it; both spellings
are accepted on import, the correct one is written on export.
"""

import json
from pathlib import Path

from dataengine.core.formats import lettered_prompt, question_prompt
from dataengine.core.jsonl import read_json_list, read_jsonl
from dataengine.core.samples import sample_validator

PAPER_KEYS = ("instruction", "answer", "short_answer", "options", "choice_answer", "image", "qtype")
MISSPELT = {"choide_answer": "choice_answer"}
EXPORT_VIEWS = ("lettered", "free")


def import_paper_json(path: str | Path, source: str = "paper-release") -> list[dict]:
    """The paper's samples as accepted.jsonl records (provenance: `source` as teacher, iteration 0),
    each checked against the sample schema; a bad row stops the import naming it."""
    path = Path(path)
    rows = read_json_list(path, "samples")
    validator, samples = sample_validator(), []
    for row_no, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: row {row_no} is not an object")
        row = {MISSPELT.get(key, key): value for key, value in row.items()}
        missing = [key for key in PAPER_KEYS if key not in row]
        if missing:
            raise ValueError(f"{path}: row {row_no} misses {missing}")
        sample_id = f"{source}-{row_no:07d}"
        sample = {key: row[key] for key in PAPER_KEYS} | {
            "id": sample_id,
            "iteration": 0,
            "teacher": source,
            "prompt_version": "released",
            "query_id": sample_id,
            "source_id": str(row["image"]),
        }
        error = next(iter(validator.iter_errors(sample)), None)
        if error is not None:
            where = "/".join(map(str, error.absolute_path)) or "<row>"
            raise ValueError(f"{path}: row {row_no}: {where}: {error.message}")
        samples.append(sample)
    return samples


def read_accepted(path: str | Path) -> list[dict]:
    """The samples of an accepted.jsonl file, each checked against the sample schema: a file of
    something else (responses.jsonl, rejected.jsonl) is named with its first bad line."""
    validator = sample_validator()
    samples = read_jsonl(path)
    for line, sample in enumerate(samples, start=1):
        error = next(iter(validator.iter_errors(sample)), None)
        if error is not None:
            where = "/".join(map(str, error.absolute_path)) or "the record"
            raise ValueError(
                f"{path}:{line}: not an accepted sample ({where}: {error.message}); "
                "export reads the accepted.jsonl files of a run's iterations"
            )
    return samples


def export_paper_json(samples: list[dict], path: str | Path, image_prefix: str = "") -> None:
    """Our samples in the paper's JSON (its keys only, `choice_answer` spelt correctly); each image
    path gets `image_prefix` in front (samples name them relative to the run's pool/)."""
    _write(
        path,
        [{key: sample[key] for key in PAPER_KEYS} | {"image": image_prefix + sample["image"]} for sample in samples],
    )


def export_llava_json(samples: list[dict], path: str | Path, view: str = "lettered", image_prefix: str = "") -> None:
    """LLaVA's conversation JSON: `lettered` asks with options A-D and answers the letter (the paper's
    multiple-choice view), `free` asks the question and answers the full answer; each image path gets
    `image_prefix` in front."""
    records = []
    for sample in samples:
        human, gpt = _turns(sample, view)
        records.append(
            {
                "id": sample["id"],
                "image": image_prefix + sample["image"],
                "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": gpt}],
            }
        )
    _write(path, records)


def export_sharegpt_json(samples: list[dict], path: str | Path, view: str = "lettered", image_prefix: str = "") -> None:
    """The ShareGPT layout LLaMA-Factory and TRL train from: `messages` of user and assistant turns,
    the image as `<image>` in the user's turn and its path in `images`; views and prefix as LLaVA's."""
    records = []
    for sample in samples:
        user, assistant = _turns(sample, view)
        records.append(
            {
                "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
                "images": [image_prefix + sample["image"]],
            }
        )
    _write(path, records)


def _turns(sample: dict, view: str) -> tuple[str, str]:
    """The question turn (with the image token) and the answer turn of a sample in one view."""
    if view == "lettered":
        return lettered_prompt(sample["instruction"], sample["options"]), sample["choice_answer"]
    if view == "free":
        return question_prompt(sample["instruction"]), sample["answer"]
    raise ValueError(f"unknown export view {view!r}; known: {EXPORT_VIEWS}")


def _write(path: str | Path, data: list) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
