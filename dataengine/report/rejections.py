"""Validation's rejections as a reader needs them: counts by reason and type (the type from the
rejected reply's query), and what each reason means.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from dataengine.core.qtypes import TypeTable

# What each reason means: validation's checks (dataengine/teacher/validate.py), in the order they are
# applied, the contamination check, then why a teacher gave up on a query (dataengine/teacher/llm).
MEANINGS = {
    "unknown_query": "the reply names no query of this plan",
    "malformed_json": "the reply is not a JSON object",
    "unsupported": "the teacher skipped, or the image's annotation cannot support the question type",
    "schema": "a field is missing, empty or of the wrong kind (four options, a letter A-D)",
    "markup": "HTML or script in the text (it would render, or run, in a browser)",
    "control_characters": "invisible control or text-direction characters in the text",
    "mentions_annotation": "the text speaks of boxes, coordinates or descriptions instead of the image",
    "duplicate_options": "two options say the same",
    "choice_mismatch": "the lettered choice is not the short answer",
    "wrong_answer": "the answer contradicts the image's annotation",
    "duplicate": "the same question and options as an earlier sample",
    "contamination": "the question and options nearly repeat a benchmark item",
    "truncated": "the reply was cut off at the token limit",
    "empty": "the reply was empty",
    "refused": "the model refused",
    "budget": "not asked: the spend bound (teacher.budget_usd) was reached",
    "stopped": "not asked: the job was stopped",
    "timeout": "the endpoint did not answer in time, after every retry",
    "rate_limited": "the endpoint kept refusing for rate, after every retry",
    "connection": "the endpoint could not be reached",
    "bad_response": "the endpoint's answer could not be read",
}


def meaning(reason: str) -> str:
    if reason.startswith("http_"):
        return f"the endpoint answered HTTP {reason.removeprefix('http_')} after every retry"
    return MEANINGS.get(reason, "see docs/contracts.md")


# How the local OpenAI-compatible test server (tools/fake_openai.py, what `make demo` asks) begins the
# system_fingerprint of every reply; generation.json counts the replies by fingerprint.
TEST_SERVER = "fake_openai"


def injected_faults(generation: Mapping | None) -> str | None:
    """The faults the teacher's server says it injected (its replies' system_fingerprint), as
    "<kinds>, in <share> of the attempts", or None: a real endpoint, or the test server without faults."""
    for fingerprint in (generation or {}).get("system_fingerprints", {}):
        server, *settings = str(fingerprint).split()
        said = dict(setting.partition("=")[::2] for setting in settings)
        if server == TEST_SERVER and said.get("injected_faults", "none") != "none":
            kinds, rate = said["injected_faults"].replace(",", ", "), said.get("rate", "")
            numeric = rate.replace(".", "", 1).isdigit()
            return f"{kinds}, in {float(rate):.0%} of the attempts" if numeric else f"{kinds}, on a script"
    return None


def by_reason_and_type(rejected: list[dict], queries: list[dict], types: TypeTable) -> dict[str, Counter]:
    """reason -> Counter of type names (of `types`); a reply whose query is unknown counts under
    "unknown type"."""
    of_query: Mapping[str, int] = {query["query_id"]: int(query["qtype"]) for query in queries}
    table: dict[str, Counter] = {}
    for record in rejected:
        qtype = of_query.get(record["query_id"])
        table.setdefault(record["reason"], Counter())[types.name(qtype) if qtype else "unknown type"] += 1
    return dict(sorted(table.items(), key=lambda item: -sum(item[1].values())))
