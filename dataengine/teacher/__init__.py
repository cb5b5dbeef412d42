"""The teacher: one generation query -> one raw reply text, as a teacher LLM would write it.

`oracle` (oracle.py) writes the reply offline from the query's annotation; `openai` (llm/) asks any
OpenAI-compatible endpoint and is imported only when used. Both return a `Generation` (base.py).
"""

from collections.abc import Callable, Mapping

from dataengine.core.qtypes import known_types, own_categories, run_types
from dataengine.teacher.base import Generation
from dataengine.teacher.oracle import generate_oracle


def _generate_openai(queries: list[dict], teacher_cfg: dict, seed: int, step: str | None) -> Generation:
    from dataengine.teacher.llm.generation import generate_openai

    return generate_openai(queries, teacher_cfg, seed, step)


TEACHERS: dict[str, Callable[[list[dict], dict, int, str | None], Generation]] = {
    "oracle": generate_oracle,
    "openai": _generate_openai,
}


def generate(queries: list[dict], teacher_cfg: dict, seed: int) -> list[dict]:
    """Responses {"query_id","teacher","content"}, one per query, from the teacher `teacher_cfg["kind"]`."""
    return generate_with_stats(queries, teacher_cfg, seed).responses


def generate_with_stats(queries: list[dict], teacher_cfg: dict, seed: int, step: str | None = None) -> Generation:
    """The responses and the teacher's accounting, which the generation rule writes to generation.json;
    `step` names that output, so the accounting sums the step's attempts (dataengine.endpoint.ledger)."""
    kind = teacher_cfg.get("kind")
    if kind not in TEACHERS:
        raise ValueError(f"unknown teacher kind {kind!r} in teacher config; known kinds: {sorted(TEACHERS)}")
    for i, query in enumerate(queries):
        missing = [k for k in ("query_id", "qtype", "annotation") if k not in query]
        if missing:
            raise ValueError(f"query {i} ({query.get('query_id', '<no query_id>')}): missing keys {missing}")
    return TEACHERS[kind](queries, teacher_cfg, seed, step)


def taught_types(teacher_cfg: Mapping, config: Mapping) -> list[int]:
    """The run's types this teacher writes data for; the others are measured but planned nothing. The
    oracle writes SEED-Bench's types (its synthetic world's), the openai teacher those its prompt
    file defines."""
    types = run_types(config)
    if teacher_cfg["kind"] == "oracle":
        return [] if own_categories(config["benchmark"]) else types.ids
    from dataengine.teacher.llm.prompts import defined_types
    from dataengine.teacher.llm.settings import resolve_prompts

    defined = defined_types(resolve_prompts(teacher_cfg["prompts"]), known_types(config))
    return [qtype for qtype in types.ids if qtype in defined]
