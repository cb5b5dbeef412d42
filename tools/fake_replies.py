"""What the fake endpoint answers (tools.fake_openai): a teacher's item from the
annotation in the prompt, with the oracle's question semantics; a scripted prompt revision; a scripted
choice extraction; and the content faults that can be injected into any of them."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np

from dataengine.core.formats import LETTERS
from dataengine.core.qtypes import SEED_TYPES
from dataengine.teacher.oracle import SKIP_REPLY, oracle_reply

# The user prompt's type line and definition (config/prompts/user.md): "Question type: 5 (Instances Counting)".
_QTYPE = re.compile(r"Question type: \d+ \((.*?)\)\nDefinition: (.*?)\n\n", re.DOTALL)
_ANNOTATION = re.compile(r"<annotation>\s*(.*?)\s*</annotation>", re.DOTALL)
# A prompt revision request (dataengine.teacher.prompt_opt): the current prompt and the reviewer's notes.
_REVISION = re.compile(r"<prompt>\s*(.*?)\s*</prompt>.*<notes>\s*(.*?)\s*</notes>", re.DOTALL)
# A choice extraction request (dataengine.eval.extractor): the lettered options and the reply to read.
_EXTRACTION = re.compile(r"<options>\n(.*?)\n</options>\n<reply>(.*?)</reply>", re.DOTALL)
_OPTION_LINE = re.compile(r"([A-Z])\. (.*)")
_EXTRACTED = re.compile(r"[A-Z]")  # what `extract` answers: a letter, Z for none
SKIP_JSON = {
    "instruction": "",
    "answer": "",
    "short_answer": "",
    "options": ["", "", "", ""],
    "choice_answer": "A",
    "skip": True,
}


def answer(messages: list[dict], seed: int) -> str:
    """The reply a good teacher writes: the oracle's item for the annotation and type in the prompt."""
    text = "\n".join(m.get("content") or "" for m in messages if m.get("role") == "user")
    if extraction := _EXTRACTION.search(text):
        return extract(extraction[1], extraction[2])
    if revision := _REVISION.search(text):
        return revise(revision[1], revision[2])
    asked, annotation = _QTYPE.search(text), _ANNOTATION.search(text)
    qtype = seed_type(*asked.groups()) if asked else None
    if qtype is None or not annotation:
        return json.dumps(SKIP_JSON)
    digest = hashlib.sha256(json.dumps([messages, seed], sort_keys=True).encode()).digest()
    try:
        reply = oracle_reply(
            {"qtype": qtype, "annotation": json.loads(annotation[1])},
            np.random.default_rng(int.from_bytes(digest[:8], "little")),
        )
    except ValueError:  # not an annotation of the synthetic world
        reply = SKIP_REPLY
    return json.dumps(SKIP_JSON) if reply == SKIP_REPLY else reply


def seed_type(name: str, definition: str) -> int | None:
    """The SEED-Bench type whose questions the fake teacher writes for the asked type: the one it is
    named after, else the one its definition names (how a test gives a category of its own a meaning
    the synthetic world can answer), else none."""
    for text in (name, definition):
        named = [qtype for qtype, seed_name in SEED_TYPES.items() if seed_name.lower() in text.lower()]
        if named:
            return named[0]
    return None


def revise(prompt: str, notes: str) -> str:
    """The scripted revision: the prompt plus one rule per note, so tests know the new version's text."""
    rules = [f"Rule: {line.lstrip('- ').strip()}" for line in notes.splitlines() if line.strip()]
    return "<prompt>\n" + "\n".join([prompt, *rules]) + "\n</prompt>"


def extract(option_lines: str, reply: str) -> str:
    """The scripted extractor: the letter of the one option whose text is in the reply (any case, also
    inside a word, which the evaluation's own rules do not read), else Z."""
    options = [m.groups() for line in option_lines.splitlines() if (m := _OPTION_LINE.fullmatch(line.strip()))]
    hits = [letter for letter, text in options if text.strip() and text.strip().lower() in reply.lower()]
    return hits[0] if len(hits) == 1 else "Z"


def inject(fault: str, content: str) -> tuple[str, str]:
    """(content, finish_reason) of a reply with a content fault."""
    if fault in ("malformed", "schema_invalid", "wrong_answer") and _EXTRACTED.fullmatch(content):
        if fault == "wrong_answer":
            return LETTERS[(LETTERS.find(content) + 1) % len(LETTERS)], "stop"
        return f"The reply seems to choose option {content}, I think.", "stop"
    if (
        fault in ("malformed", "schema_invalid", "wrong_answer", "markup")
        and content.startswith("{")
        and '"skip"' not in content
    ):
        reply = json.loads(content)
        if fault == "malformed":
            return "Sure! Here is the question: " + content[:-1], "stop"
        if fault == "schema_invalid":
            return json.dumps({k: v for k, v in reply.items() if k not in ("options", "skip")}), "stop"
        if fault == "markup":
            hostile = {
                "instruction": reply["instruction"] + "<script>alert(1)</script>",
                "answer": reply["answer"] + ' <img src=x onerror="alert(1)">',
            }
            return json.dumps({**reply, **hostile}), "stop"
        wrong = (LETTERS.index(reply["choice_answer"]) + 1) % 4
        return json.dumps({**reply, "short_answer": reply["options"][wrong], "choice_answer": LETTERS[wrong]}), "stop"
    if fault == "truncated":
        return content[: len(content) // 2], "length"
    if fault == "empty":
        return "", "stop"
    return content, "stop"
