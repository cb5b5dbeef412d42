"""The teacher: one generation query -> one raw reply text, as a teacher LLM would write it.

`oracle` is the offline teacher: it reads the scene graph from the query's annotation and writes the
item with the same code the benchmark uses. Where the image cannot carry the asked type it replies
"skip", as the paper's GPT prompts instruct, and validation rejects that reply as "unsupported".
"""

import hashlib
import json
from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from dataengine.synthetic import annotation_to_scene, make_question

SKIP_REPLY = "skip"
CHOICE_LETTERS = "ABCD"


def query_rng(seed: int, query_id: str) -> np.random.Generator:
    """A generator fixed by (seed, query_id): a rerun or a resumed run writes the same reply."""
    digest = hashlib.sha256(query_id.encode("utf-8")).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def oracle_reply(query: dict, rng: np.random.Generator) -> str:
    """The JSON reply {"instruction","answer","short_answer","options","choice_answer"} for a query."""
    scene = annotation_to_scene(query["annotation"])
    question = make_question(int(query["qtype"]), scene, rng)
    if question is None:
        return SKIP_REPLY
    return json.dumps(
        {
            "instruction": question.question,
            "answer": question.answer_sentence,
            "short_answer": question.answer,
            "options": list(question.options),
            "choice_answer": CHOICE_LETTERS[question.answer_index],
        }
    )


def _generate_oracle(queries: list[dict], teacher_cfg: dict, seed: int) -> list[dict]:
    return [
        {"query_id": q["query_id"], "teacher": "oracle", "content": oracle_reply(q, query_rng(seed, q["query_id"]))}
        for q in tqdm(queries, desc="oracle teacher", disable=None)
    ]


TEACHERS: dict[str, Callable[[list[dict], dict, int], list[dict]]] = {"oracle": _generate_oracle}


def generate(queries: list[dict], teacher_cfg: dict, seed: int) -> list[dict]:
    """Responses {"query_id","teacher","content"}, one per query, from the teacher `teacher_cfg["kind"]`."""
    kind = teacher_cfg.get("kind")
    if kind not in TEACHERS:
        raise ValueError(f"unknown teacher kind {kind!r} in teacher config; known kinds: {sorted(TEACHERS)}")
    for i, query in enumerate(queries):
        missing = [k for k in ("query_id", "qtype", "annotation") if k not in query]
        if missing:
            raise ValueError(f"query {i} ({query.get('query_id', '<no query_id>')}): missing keys {missing}")
    return TEACHERS[kind](queries, teacher_cfg, seed)
