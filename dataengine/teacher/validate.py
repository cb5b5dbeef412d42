"""Validation of teacher replies into training samples (docs/contracts.md, "iter_<i+1>/data/").

The checks follow the paper's post-processing (drop replies that "skip"; drop text that leaks the
annotation format: bounding boxes, coordinates, "description"; strip bracketed coordinates) and add
what a multiple-choice sample needs: the schema, plain text (no markup, no control characters: a
student trained on them learns to write them, and they reach every page that shows the data), 4
distinct options, a choice letter that points at the short answer, the answer verified against the
scene where the annotation is ours, and no duplicate question per image. Bad teacher content is never
an exception: every rejection keeps its reason, and the detail of what exactly was wrong.
"""

import json
import re

from jsonschema.exceptions import best_match

from dataengine.core.formats import LETTERS
from dataengine.core.samples import reply_validator
from dataengine.data.synthetic.annotations import annotation_to_scene, is_synthetic_annotation
from dataengine.data.synthetic.questions import question_variants

TEXT_FIELDS = ("instruction", "answer", "short_answer")

# Rejection reasons, one per check, in the order they are applied.
UNKNOWN_QUERY = "unknown_query"
MALFORMED_JSON = "malformed_json"
UNSUPPORTED = "unsupported"
SCHEMA = "schema"
MARKUP = "markup"
CONTROL_CHARACTERS = "control_characters"
MENTIONS_ANNOTATION = "mentions_annotation"
DUPLICATE_OPTIONS = "duplicate_options"
CHOICE_MISMATCH = "choice_mismatch"
WRONG_ANSWER = "wrong_answer"
DUPLICATE = "duplicate"

_SKIP = re.compile(r"\bskip(ped|ping)?\b", re.IGNORECASE)
_FORBIDDEN = re.compile(r"bounding[\s_-]*box|\bbbox|coordinate|\bdescription\b", re.IGNORECASE)
_NUMBER = r"-?\d+(?:\.\d+)?"
_COORDINATES = re.compile(rf"\s*[\[(]\s*{_NUMBER}(?:\s*,\s*{_NUMBER}){{3}}\s*[\])]")
# What a browser reads as markup: a tag ("<" then a letter or "/", as in <b>, </p>, <img src=x
# onerror=...>), a comment or declaration, the opening of an active element even left unclosed, and a
# javascript: URL. A "<" before a space or a digit ("3 < 5") is text.
_MARKUP = re.compile(
    r"</?[A-Za-z][^<>]*>|<!|<(?:script|iframe|img|svg|object|embed|style|link|meta|math|form)\b|javascript\s*:",
    re.IGNORECASE,
)
# C0 controls but tab, newline and carriage return; DEL and C1; bidirectional embeddings, overrides and
# isolates, which make the displayed text differ from the characters trained on.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def normalise(text: str) -> str:
    """Comparison form: case, spacing and trailing punctuation do not make two texts different."""
    return " ".join(text.lower().split()).rstrip(".?!")


def question_words(text: str) -> str:
    """A question's words: case, spacing and punctuation anywhere ("Where is the square ?", "where is
    the square") do not make two questions different, so a re-cased or re-punctuated question is still
    checked against its template, and still a duplicate of its twin."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def strip_coordinates(text: str) -> str:
    """Remove bracketed 4-number coordinates such as "[0.1, 0.2, 0.3, 0.4]" from a text."""
    return " ".join(_COORDINATES.sub("", text).split())


def _texts(reply: dict) -> list[tuple[str, str]]:
    """(field, text) of the reply's texts: the text fields, then each option as options[k]."""
    values = [(k, reply.get(k)) for k in TEXT_FIELDS]
    values += [(f"options[{k}]", option) for k, option in enumerate(reply.get("options") or [])]
    return [(name, value) for name, value in values if isinstance(value, str)]


def _found(pattern: re.Pattern, reply: dict, describe=repr) -> str | None:
    """Where `pattern` first matches in the reply's texts, as "<field>: <match>", or None."""
    for name, text in _texts(reply):
        if match := pattern.search(text):
            return f"{name}: {describe(match[0])}"
    return None


def _code_points(text: str) -> str:
    return " ".join(f"U+{ord(c):04X}" for c in text)


def _clean(reply: dict) -> dict:
    cleaned = dict(reply)
    for key in TEXT_FIELDS:
        if isinstance(cleaned.get(key), str):
            cleaned[key] = strip_coordinates(cleaned[key])
    if isinstance(cleaned.get("options"), list):
        cleaned["options"] = [strip_coordinates(o) if isinstance(o, str) else o for o in cleaned["options"]]
    return cleaned


def _verify(reply: dict, query: dict) -> tuple[str, str] | None:
    """Check the reply against the query's annotation; (rejection reason, detail), or None when it
    passes or cannot be checked (a real pool, or a question phrased unlike any template)."""
    annotation = query["annotation"]
    qtype = int(query["qtype"])
    if annotation.get("qtypes") is not None and qtype not in annotation["qtypes"]:
        return UNSUPPORTED, f"the image's annotation supports question types {annotation['qtypes']}, not {qtype}"
    if not is_synthetic_annotation(annotation):
        return None
    variants = question_variants(qtype, annotation_to_scene(annotation))
    if not variants:
        return UNSUPPORTED, f"the scene answers no question of type {qtype} unambiguously"
    asked = [v for v in variants if question_words(v.question) == question_words(reply["instruction"])]
    if asked and all(normalise(v.answer) != normalise(reply["short_answer"]) for v in asked):
        return WRONG_ANSWER, f"short_answer {reply['short_answer']!r}; the annotation says {asked[0].answer!r}"
    return None


def check_reply(content, query: dict) -> tuple[dict | None, str | None]:
    """(cleaned reply, None) when the reply is usable, else (None, reason). The openai teacher calls
    it on each reply, so a reply that would be rejected here is asked again, never cached."""
    reply, reason, _ = judge_reply(content, query)
    return reply, reason


def judge_reply(content, query: dict) -> tuple[dict | None, str | None, str | None]:
    """check_reply's verdict with its detail: (cleaned reply, None, None), or (None, reason, what
    exactly was wrong: the field and the text found, the schema's message, the options that repeat)."""
    if not isinstance(content, str):
        return None, MALFORMED_JSON, f"the reply is {type(content).__name__}, not text"
    if normalise(content.strip().strip("\"'")) == "skip":
        return None, UNSUPPORTED, "the teacher answered skip"
    try:
        reply = json.loads(content)
    except json.JSONDecodeError as err:
        return None, MALFORMED_JSON, f"not JSON: {err.msg} at line {err.lineno} column {err.colno}"
    if not isinstance(reply, dict):
        return None, MALFORMED_JSON, f"a JSON {type(reply).__name__}, not an object"
    if reply.get("skip"):
        return None, UNSUPPORTED, "the reply sets skip"
    if skipped := _found(_SKIP, reply):
        return None, UNSUPPORTED, f"{skipped} (the teacher skipped)"
    reply = _clean(reply)
    if error := best_match(reply_validator().iter_errors(reply)):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        return None, SCHEMA, f"{where or 'the reply'}: {error.message}"
    checks = (
        (MARKUP, _MARKUP, repr),
        (CONTROL_CHARACTERS, _CONTROL, _code_points),
        (MENTIONS_ANNOTATION, _FORBIDDEN, repr),
    )
    for reason, pattern, describe in checks:
        if found := _found(pattern, reply, describe):
            return None, reason, found
    options = [normalise(o) for o in reply["options"]]
    for k, option in enumerate(options):
        if option in options[:k]:
            first = LETTERS[options.index(option)]
            return None, DUPLICATE_OPTIONS, f"options {first} and {LETTERS[k]} both say {reply['options'][k]!r}"
    chosen = reply["options"][LETTERS.index(reply["choice_answer"])]
    if normalise(chosen) != normalise(reply["short_answer"]):
        detail = f"choice {reply['choice_answer']} is {chosen!r}, the short answer {reply['short_answer']!r}"
        return None, CHOICE_MISMATCH, detail
    failed = _verify(reply, query)
    return (None, *failed) if failed else (reply, None, None)


def validate(
    responses: list[dict], queries: list[dict], iteration: int, prompt_version: str
) -> tuple[list[dict], list[dict]]:
    """Split teacher responses into accepted samples (with provenance) and rejections with their reason
    and detail (what exactly was wrong; null where the reason says all that is known).

    A duplicate (same image, same instruction) keeps the first accepted one, in response order. A response
    the teacher gave up on carries its `failure` (budget, timeout, truncated ...), kept as the reason,
    with the detail of its last reply where validation finds the same fault in it; its own
    `prompt_version` (the openai teacher's prompt hash) wins over the configured one.
    """
    by_id = {q["query_id"]: q for q in queries}
    accepted, rejected, seen = [], [], {}
    for response in responses:
        query_id = response.get("query_id")
        content = response.get("content")
        query = by_id.get(query_id)
        if query is None:
            reply, reason, detail = None, UNKNOWN_QUERY, f"no query {query_id!r} in this plan"
        elif response.get("failure"):
            reply, reason = None, response["failure"]
            _, again, found = judge_reply(content, query) if content is not None else (None, None, None)
            detail = found if again == reason else None
        else:
            reply, reason, detail = judge_reply(content, query)
        if reply is not None:
            key = (query["image_id"], question_words(reply["instruction"]))
            if key in seen:
                reply, reason, detail = None, DUPLICATE, f"the same question on this image as {seen[key]!r}"
            seen.setdefault(key, query_id)
        if reply is None:
            rejected.append({"query_id": query_id, "reason": reason, "detail": detail, "content": content})
            continue
        accepted.append(
            {
                **{k: reply[k] for k in (*TEXT_FIELDS, "options", "choice_answer")},
                "image": query["image"],
                "qtype": int(query["qtype"]),
                "id": query_id,
                "iteration": iteration,
                "teacher": response.get("teacher", "unknown"),
                "prompt_version": response.get("prompt_version", prompt_version),
                "query_id": query_id,
                "source_id": query["image_id"],
            }
        )
    return accepted, rejected
