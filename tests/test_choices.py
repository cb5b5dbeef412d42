"""Reading the chosen option from generated replies: every common way of stating it, the traps
(articles, options inside options, echoed lists, hedges), and the labelled replies of tests/data/
against the project's earlier rules and VLMEvalKit's can_infer (bench/extraction.py)."""

import json
import subprocess
import sys

import pytest

from dataengine.eval.choices import extract_choice
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import extraction  # noqa: E402 (bench/ is no package)

COLOURS = ["red", "green", "blue", "yellow"]
ANIMALS = ["cat", "dog", "horse", "bird"]


@pytest.mark.parametrize(
    "reply, letter",
    [
        ("The answer is B.", "B"),
        ("Answer: D", "D"),
        ("Answer: (A)", "A"),
        ("Option C", "C"),
        ("I think B", "B"),
        ("[B]", "B"),
        ("**B**", "B"),
        ("The correct answer is **C**", "C"),
        ("answer: c", "C"),
        ("i choose d", "D"),
        ("Final answer: \\boxed{A}", "A"),
        ("<answer>D</answer>", "D"),
        ("C is correct because it is blue.", "C"),
        ("It looks blue to me, so C.", "C"),
        ("Not A; it is C.", "C"),
        ("B, since it is green.", "B"),
        ("D - yellow", "D"),
        ("d) yellow", "D"),
        ("C\n\nThe ball is blue.", "C"),
        ("Answer:\nB", "B"),
        ("A. red B. green C. blue D. yellow\nAnswer: B", "B"),
        ("The answer is A red one.", "A"),
        ("Let me think. A red ball would be darker. The answer is C.", "C"),
    ],
)
def test_a_stated_letter_is_read_wherever_it_stands(reply, letter):
    assert extract_choice(reply, COLOURS) == (letter, "letter")


@pytest.mark.parametrize(
    "reply, options, letter",
    [
        ("b", COLOURS, "B"),
        ("(c)", COLOURS, "C"),
        ("a", COLOURS, "A"),  # lone lower-case letters
        ("the answer is a", COLOURS, "A"),
        ("C", ["1", "2", "3", "4"], "C"),  # a letter, even where the options are numbers
    ],
)
def test_lone_letters_of_either_case_and_only_among_the_options(reply, options, letter):
    assert extract_choice(reply, options)[0] == letter
    assert extract_choice("C", ["yes", "no"]) == (None, "none")  # past the options


@pytest.mark.parametrize(
    "reply, options, letter",
    [
        ("A dog.", ANIMALS, "B"),  # the article, not option A
        ("A horse standing in a field.", ANIMALS, "C"),
        ("the answer is a dog", ANIMALS, "B"),
        ("It is dark red.", ["red", "dark red", "pink"], "B"),  # "red" only inside the longer option
        ("The apple is red.", ["red", "dark red", "pink"], "A"),
        ("none", ["none", "one", "two"], "A"),
        ("There is one cup.", ["none", "one", "two"], "B"),
        ("Not sure.", ["yes", "no"], None),
        ("No, there is none.", ["yes", "no"], "B"),  # "no" is not in "Not"
        ("street", ["a kitchen", "a street"], "B"),  # an option's article is optional
        ("There are three.", ["2", "3", "4"], "B"),  # number words are digits
        ("It's not a cat, it's a dog.", ANIMALS, "B"),  # negated options do not count
        ("Vitamin C", ["Vitamin A", "Vitamin C"], "B"),  # the C of an option's text is no letter
        ("3", ["1", "2", "3", "4"], "C"),
        ("The answer is Blue.", COLOURS, "C"),
        ("Answer: Dog", ANIMALS, "B"),  # a word's capital is no letter
        ("I think Cat", ANIMALS, "A"),
        ("The bird is the correct answer.", ANIMALS, "D"),
    ],
)
def test_option_text_without_article_or_substring_false_positives(reply, options, letter):
    read, rule = extract_choice(reply, options)
    assert read == letter and rule == ("option_text" if letter else "none")


@pytest.mark.parametrize(
    "reply",
    [
        "A or C",
        "Both B and D could be right.",
        "A, D",
        "Neither A nor B.",
        "red or green",
        "",
        "I'm sorry, I cannot tell from the image.",
        "N/A",
        "A. red\nB. green\nC. blue\nD. yellow",
        "The answer is B. Wait, the answer is C.",
        "Answer: A\nAnswer: B",
        "reddish",
        "Option A or option C",
    ],
)
def test_several_choices_none_or_a_refusal_read_as_nothing(reply):
    assert extract_choice(reply, COLOURS) == (None, "none")
    assert extract_choice(reply, COLOURS, "q", lambda *_: "D") == ("D", "llm")  # the LLM's part, when there is one


def _accuracy(read, name):
    return extraction.score(read, extraction.load(extraction.SETS[name]))


def test_the_labelled_replies_are_well_formed():
    for name, path in extraction.SETS.items():
        rows = extraction.load(path)
        assert len(rows) >= 120, name
        for row in rows:
            assert set(row) == {"habit", "question", "options", "reply", "expected"}, row
            assert (
                2 <= len(row["options"]) <= 4
                and row["expected"] in (None, "A", "B", "C", "D")[: len(row["options"]) + 1]
            )
    replies = [{json.dumps(r) for r in extraction.load(path)} for path in extraction.SETS.values()]
    assert not replies[0] & replies[1]  # no reply in both sets


def test_held_back_replies_are_read_clearly_better_than_vlmevalkit_and_the_earlier_rules():
    """The issue's bar, on replies the rules were never tuned on (tests/data/README.md)."""
    ours = _accuracy(lambda reply, options: extract_choice(reply, options)[0], "heldback")
    assert ours["accuracy"] >= 90.0
    for current in (False, True):
        theirs = _accuracy(extraction.vlmevalkit(current), "heldback")
        assert ours["accuracy"] >= theirs["accuracy"] + 10, current
        assert ours["wrong"] <= theirs["wrong"], current  # not by guessing more
    known = subprocess.run(
        ["git", "cat-file", "-e", f"{extraction.BASELINE}^{{commit}}"], cwd=REPO, capture_output=True
    )
    if known.returncode != 0:  # a shallow clone; a moved file must still fail here
        pytest.skip(f"no git history with {extraction.BASELINE} here")
    earlier = extraction.project_rules(extraction.BASELINE)
    assert ours["accuracy"] >= _accuracy(earlier, "heldback")["accuracy"] + 10


def test_the_vlmevalkit_reference_keeps_its_known_misses():
    """The reference reads as VLMEvalKit does, misses included (issue 18's list)."""
    classic, current = extraction.vlmevalkit(current=False), extraction.vlmevalkit(current=True)
    for read in (classic, current):
        assert read("B", COLOURS) == "B" and read("b", COLOURS) is None  # lone lower-case letters ignored
        assert read("A dog.", ANIMALS) == "A"  # the article read as option A
        assert read("Not sure", ["yes", "no"]) == "B"  # "no" inside "Not"
        assert read("dark red", ["red", "dark red", "pink"]) is None  # one option inside another
        assert read("I can't process this file.", COLOURS) is None  # its refusals: 'Z'
    assert classic("The answer is B because C is wrong.", COLOURS) is None  # two letters
    assert current("B. Because the ball is green like the grass.", COLOURS) is None  # not among the last four words
    assert current("the answer is b", COLOURS) == "B"  # its 2026 "answer is X" rule
