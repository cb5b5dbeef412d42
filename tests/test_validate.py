import json

import pytest

from dataengine.core.samples import sample_validator
from dataengine.data.synthetic.world import SCENE_KINDS
from dataengine.teacher import generate
from dataengine.teacher.validate import strip_coordinates, validate
from tests.conftest import make_queries

QUERIES = make_queries(n_per_type=4)
SCENE_QUERY = QUERIES[0]  # qtype 1: its correct reply is easy to write by hand


def _good_reply(query=SCENE_QUERY, **changes):
    """A correct reply for a Scene Understanding query, with fields replaced."""
    kind = SCENE_KINDS[query["annotation"]["background"]]
    others = [k for k in SCENE_KINDS.values() if k != kind][:3]
    reply = {
        "instruction": "What kind of scene is this?",
        "answer": f"The scene is {kind}.",
        "short_answer": kind,
        "options": [kind, *others],
        "choice_answer": "A",
    }
    reply.update(changes)
    return json.dumps(reply)


def _wrong_answer():
    wrong = json.loads(_good_reply())["options"][1]
    return _good_reply(short_answer=wrong, choice_answer="B", answer=f"The scene is {wrong}.")


def _one(content, query=SCENE_QUERY):
    response = {"query_id": query["query_id"], "teacher": "t", "content": content}
    return validate([response], QUERIES, iteration=1, prompt_version="v1")


def test_oracle_replies_are_all_accepted_with_provenance():
    responses = generate(QUERIES, {"kind": "oracle"}, seed=0)
    accepted, rejected = validate(responses, QUERIES, iteration=2, prompt_version="v3")
    assert rejected == [] and len(accepted) == len(QUERIES)
    validator = sample_validator()
    for sample, query in zip(accepted, QUERIES):
        validator.validate(sample)
        assert sample["id"] == sample["query_id"] == query["query_id"]
        assert (sample["iteration"], sample["teacher"], sample["prompt_version"]) == (2, "oracle", "v3")
        assert sample["source_id"] == query["image_id"] and sample["image"] == query["image"]
        assert sample["qtype"] == query["qtype"]


def test_unsupported_queries_are_rejected_not_raised():
    letter_query = QUERIES[-1]
    assert letter_query["qtype"] == 9
    asks_spatial = {**letter_query, "query_id": "skip-me", "qtype": 6}
    responses = generate([asks_spatial], {"kind": "oracle"}, seed=0)
    accepted, rejected = validate(responses, [asks_spatial], iteration=1, prompt_version="v1")
    assert accepted == [] and rejected == [
        {"query_id": "skip-me", "reason": "unsupported", "detail": "the teacher answered skip", "content": "skip"}
    ]


@pytest.mark.parametrize(
    ("make_content", "reason"),
    [
        (lambda: "{not json", "malformed_json"),
        (lambda: "[1, 2]", "malformed_json"),
        (lambda: '"Skip."', "unsupported"),
        (lambda: _good_reply(short_answer="skip"), "unsupported"),
        (lambda: _good_reply(options=["a", "b", "c"]), "schema"),
        (lambda: _good_reply(choice_answer="E"), "schema"),
        (lambda: _good_reply(instruction="[0.1, 0.2, 0.3, 0.4]"), "schema"),  # nothing left once stripped
        (lambda: _good_reply(instruction="What kind of scene is this?<script>alert(1)</script>"), "markup"),
        (lambda: _good_reply(answer='The scene is <img src=x onerror="alert(1)">.'), "markup"),
        (lambda: _good_reply(instruction="What kind of <b>scene</b> is this?"), "markup"),
        (lambda: _good_reply(instruction="What kind of scene is this? <img src=x onerror=alert(1)"), "markup"),
        (lambda: _good_reply(instruction="What kind of scene <!-- hidden --> is this?"), "markup"),
        (lambda: _good_reply(answer="See javascript:alert(1) for the scene."), "markup"),
        (lambda: _good_reply(instruction="What kind of scene\x00 is this?"), "control_characters"),
        (lambda: _good_reply(instruction="What kind of scene is this?\x1b[31m"), "control_characters"),
        (lambda: _good_reply(answer="The scene is \u202eeht.", short_answer="x"), "control_characters"),
        (lambda: _good_reply(answer="The bounding box shows it."), "mentions_annotation"),
        (lambda: _good_reply(instruction="Based on the description, what is it?"), "mentions_annotation"),
        (lambda: _good_reply(options=["sea", "Sea ", "beach", "snow"], short_answer="sea"), "duplicate_options"),
        (lambda: _good_reply(choice_answer="B"), "choice_mismatch"),
        (_wrong_answer, "wrong_answer"),
    ],
)
def test_each_rejection_reason(make_content, reason):
    content = make_content()
    accepted, rejected = _one(content)
    assert accepted == [] and [{k: v for k, v in r.items() if k != "detail"} for r in rejected] == [
        {"query_id": SCENE_QUERY["query_id"], "reason": reason, "content": content}
    ]
    assert rejected[0]["detail"]  # what exactly was wrong, beside the reason


@pytest.mark.parametrize(
    ("make_content", "detail"),
    [
        (lambda: "{not json", "not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        (lambda: "[1, 2]", "a JSON list, not an object"),
        (lambda: _good_reply(options=["a", "b", "c"]), "options: ['a', 'b', 'c'] is too short"),
        (lambda: _good_reply(choice_answer="E"), "choice_answer: 'E' is not one of ['A', 'B', 'C', 'D']"),
        (lambda: _good_reply(answer="<script>x</script>"), "answer: '<script>'"),
        (lambda: _good_reply(answer="The scene is \u202eeht.", short_answer="x"), "answer: U+202E"),
        (lambda: _good_reply(instruction="Based on the description, what is it?"), "instruction: 'description'"),
        (
            lambda: _good_reply(options=["sea", "beach", "Sea ", "snow"], short_answer="sea"),
            "options A and C both say 'Sea'",  # spacing normalised
        ),
        (lambda: _good_reply(choice_answer="B"), "choice B is {b!r}, the short answer {a!r}"),
        (_wrong_answer, "short_answer {b!r}; the annotation says {a!r}"),
    ],
)
def test_each_rejection_keeps_what_exactly_was_wrong(make_content, detail):
    content = make_content()
    good = json.loads(_good_reply())["options"]
    assert _one(content)[1][0]["detail"] == detail.format(a=good[0], b=good[1])


def test_a_reply_the_teacher_gave_up_on_keeps_the_detail_validation_finds_in_it():
    content = _good_reply(answer="<b>x</b>")
    base = {"query_id": SCENE_QUERY["query_id"], "teacher": "t", "content": content}
    _, rejected = validate([{**base, "failure": "markup"}], QUERIES, iteration=1, prompt_version="v1")
    assert (rejected[0]["reason"], rejected[0]["detail"]) == ("markup", "answer: '<b>'")
    _, rejected = validate([{**base, "failure": "truncated"}], QUERIES, iteration=1, prompt_version="v1")
    assert (rejected[0]["reason"], rejected[0]["detail"]) == ("truncated", None)  # nothing more is known


def test_unknown_query_and_duplicate_instruction():
    query = SCENE_QUERY
    twin = {**query, "query_id": "twin"}
    responses = [
        {"query_id": query["query_id"], "teacher": "t", "content": _good_reply(query)},
        {"query_id": "twin", "teacher": "t", "content": _good_reply(query)},
        {"query_id": "nobody", "teacher": "t", "content": _good_reply(query)},
    ]
    accepted, rejected = validate(responses, [query, twin], iteration=1, prompt_version="v1")
    assert [a["query_id"] for a in accepted] == [query["query_id"]]
    assert [(r["query_id"], r["reason"]) for r in rejected] == [("twin", "duplicate"), ("nobody", "unknown_query")]
    assert [r["detail"] for r in rejected] == [
        f"the same question on this image as {query['query_id']!r}",
        "no query 'nobody' in this plan",
    ]


@pytest.mark.parametrize(
    "instruction",
    [
        "Is the count < 5 or > 2?",
        "Which is larger: a<3 or b>4?",
        "What kind of scene is this?\nAnswer briefly.",
        "Which scene\tis this?",
        "Which scene is this, e.g. <5 objects?",
    ],
)
def test_comparisons_newlines_and_tabs_are_not_markup_or_control_characters(instruction):
    accepted, rejected = _one(_good_reply(instruction=instruction))
    assert rejected == [] and accepted[0]["instruction"] == " ".join(instruction.split())  # spacing normalised


def test_coordinates_are_stripped_and_free_phrasing_is_accepted():
    content = _good_reply(instruction="Which scene [0.1, 0.2, 0.35, 0.4] do you see?")
    accepted, rejected = _one(content)
    assert rejected == [] and accepted[0]["instruction"] == "Which scene do you see?"
    assert strip_coordinates("a dog (12, 30, 55.5, 80) runs") == "a dog runs"


# A teacher may re-case, re-space or re-punctuate the template's question; it is still that question.
PARAPHRASES = {
    "upper case": str.upper,
    "no question mark": lambda q: q.rstrip("?"),
    "space before the mark": lambda q: q[:-1] + " ?",
    "spacing": lambda q: "  " + q.replace(" ", " \t "),
    "a comma": lambda q: q.replace(" ", ", ", 1),
    "other marks": lambda q: q.replace("?", "?!"),
}


def _oracle_reply(query) -> dict:
    return json.loads(generate([query], {"kind": "oracle"}, seed=0)[0]["content"])


@pytest.mark.parametrize("paraphrase", PARAPHRASES.values(), ids=PARAPHRASES.keys())
def test_a_paraphrased_question_is_still_checked_against_its_annotation(paraphrase):
    """Every type's question, paraphrased: with the annotation's answer it is accepted, with another
    option as the answer it is rejected as wrong (unchecked, the wrong answer would be trained on)."""
    for query in QUERIES[::4]:  # one query per type
        reply = _oracle_reply(query)
        asked = {**reply, "instruction": paraphrase(reply["instruction"])}
        wrong = next(i for i, option in enumerate(reply["options"]) if option != reply["short_answer"])
        wrong_reply = {**asked, "short_answer": reply["options"][wrong], "choice_answer": "ABCD"[wrong]}
        assert _one(json.dumps(asked), query)[1] == [], (query["qtype"], asked["instruction"])
        rejected = _one(json.dumps(wrong_reply), query)[1]
        assert [r["reason"] for r in rejected] == ["wrong_answer"], (query["qtype"], asked["instruction"])


def test_a_paraphrased_question_on_the_same_image_is_a_duplicate():
    query = SCENE_QUERY
    twin = {**query, "query_id": "twin"}
    responses = [
        {"query_id": query["query_id"], "teacher": "t", "content": _good_reply(query)},
        {
            "query_id": "twin",
            "teacher": "t",
            "content": _good_reply(query, instruction="what KIND of scene, is this ?"),
        },
    ]
    accepted, rejected = validate(responses, [query, twin], iteration=1, prompt_version="v1")
    assert [a["query_id"] for a in accepted] == [query["query_id"]]
    assert [(r["query_id"], r["reason"]) for r in rejected] == [("twin", "duplicate")]
