"""The teacher: one generation query -> one raw reply text, as a teacher LLM would write it.

`oracle` is the offline teacher: it reads the scene graph from the query's annotation and writes the
item with the same code the benchmark uses. Where the image cannot carry the asked type it replies
"skip", as the paper's GPT prompts instruct, and validation rejects that reply as "unsupported".
`openai` is any OpenAI-compatible endpoint (dataengine.openai_teacher), imported only when used.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from dataengine.qtypes import QTYPES
from dataengine.synthetic import annotation_to_scene, make_question, scene_for_type, scene_to_annotation

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


def synthetic_queries(n_per_type: int = 10, seed: int = 0) -> list[dict]:
    """Queries as the planner writes them, each asking the type of its image's scene family, without
    rendering images: for the teacher's tests and benchmarks."""
    rng = np.random.default_rng(seed)
    queries = []
    for qtype in QTYPES:
        for i in range(n_per_type):
            image_id = f"p{qtype}{i:05d}"
            image = f"images/{image_id}.png"
            annotation = scene_to_annotation(scene_for_type(qtype, rng), image_id, image, "0" * 64)
            queries.append(
                {
                    "query_id": f"i0-q{len(queries):05d}",
                    "qtype": qtype,
                    "image_id": image_id,
                    "image": image,
                    "annotation": annotation,
                    "in_context": [],
                    "anchor": "random",
                }
            )
    return queries


@dataclass
class Generation:
    """A teacher's responses, one per query, and its accounting (calls, tokens, cost, failures)."""

    responses: list[dict]
    stats: dict


def _generate_oracle(queries: list[dict], teacher_cfg: dict, seed: int, step: str | None) -> Generation:
    responses = [
        {"query_id": q["query_id"], "teacher": "oracle", "content": oracle_reply(q, query_rng(seed, q["query_id"]))}
        for q in tqdm(queries, desc="oracle teacher", disable=None)
    ]
    return Generation(responses, {"teacher": "oracle", "queries": len(queries), "calls": 0, "cost_usd": 0.0})


def _generate_openai(queries: list[dict], teacher_cfg: dict, seed: int, step: str | None) -> Generation:
    from dataengine.openai_teacher.generation import generate_openai

    return generate_openai(queries, teacher_cfg, seed, step)


TEACHERS: dict[str, Callable[[list[dict], dict, int, str | None], Generation]] = {
    "oracle": _generate_oracle,
    "openai": _generate_openai,
}


def generate(queries: list[dict], teacher_cfg: dict, seed: int) -> list[dict]:
    """Responses {"query_id","teacher","content"}, one per query, from the teacher `teacher_cfg["kind"]`."""
    return generate_with_stats(queries, teacher_cfg, seed).responses


def generate_with_stats(queries: list[dict], teacher_cfg: dict, seed: int, step: str | None = None) -> Generation:
    """The responses and the teacher's accounting, which the generation rule writes to generation.json;
    `step` names that output, so the accounting sums the step's attempts (dataengine.openai_teacher.ledger)."""
    kind = teacher_cfg.get("kind")
    if kind not in TEACHERS:
        raise ValueError(f"unknown teacher kind {kind!r} in teacher config; known kinds: {sorted(TEACHERS)}")
    for i, query in enumerate(queries):
        missing = [k for k in ("query_id", "qtype", "annotation") if k not in query]
        if missing:
            raise ValueError(f"query {i} ({query.get('query_id', '<no query_id>')}): missing keys {missing}")
    return TEACHERS[kind](queries, teacher_cfg, seed, step)
