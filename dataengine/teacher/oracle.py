"""The `oracle` teacher, offline: it reads the scene graph from the query's annotation and writes the
item with the same code the benchmark uses. Where the image cannot carry the asked type it replies
"skip", as the paper's GPT prompts instruct, and validation rejects that reply as "unsupported"."""

import hashlib
import json

import numpy as np

from dataengine.core.formats import LETTERS
from dataengine.core.joblog import progress
from dataengine.core.qtypes import SEED_TYPES
from dataengine.data.synthetic.annotations import annotation_to_scene, scene_to_annotation
from dataengine.data.synthetic.questions import make_question
from dataengine.data.synthetic.scenes import scene_for_type
from dataengine.teacher.base import Generation

SKIP_REPLY = "skip"


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
            "choice_answer": LETTERS[question.answer_index],
        }
    )


def synthetic_queries(n_per_type: int = 10, seed: int = 0) -> list[dict]:
    """Queries as the planner writes them, each asking the type of its image's scene family, without
    rendering images: for the teacher's tests and benchmarks."""
    rng = np.random.default_rng(seed)
    queries = []
    for qtype in SEED_TYPES:
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


def generate_oracle(queries: list[dict], teacher_cfg: dict, seed: int, step: str | None) -> Generation:
    responses = [
        {"query_id": q["query_id"], "teacher": "oracle", "content": oracle_reply(q, query_rng(seed, q["query_id"]))}
        for q in progress(queries, desc="oracle teacher")
    ]
    return Generation(responses, {"teacher": "oracle", "queries": len(queries), "calls": 0, "cost_usd": 0.0})
