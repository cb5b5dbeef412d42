"""Reading the chosen option from a generated reply, the way a careful reader would, or not at all.

Models state a choice in many ways: "B", "(b)", "**B**", "B. red", "Answer: (A)", "The correct answer is
**C**", "Option C", "I think B", "... so the answer is D", "\\boxed{A}", or the option's text alone
("It is dark red."). The rules below read all of these and say nothing (None) rather than guess when a
reply names several options, none, or refuses. In order, the first that reads a letter decides:

1. the reply (its first line) is a letter, maybe after "Answer:", "Option" or in brackets: "b", "(C).";
2. an answer statement anywhere: "answer is X", "Answer: X", "correct option is X", "I choose X",
   "X is correct", "so X." (statements naming different letters, rule 1's included: nothing is read);
3. a letter opening the reply before a delimiter: "B. red", "(C) two", "d) golf", "D - a train";
4. one capital letter standing alone in the reply ("Not A; it is C.": a negated letter does not count);
5. the text of exactly one option (rule `option_text`), word-bounded, number words read as digits, an
   option's leading article optional ("street" is "a street"); an option found only inside a longer one
   ("red" in "dark red") or negated ("not on the left") does not count.

Two traps are kept shut throughout: the article ("A dog." is not option A unless option A is "dog"; so
for the pronoun "I" when an item has nine options or more) and echoed option lists ("A. red B. green
...", which name every letter). The letters looked for run from A to the item's last, D at least, so
that an item of two to four options reads as it always has. Measured against VLMEvalKit's
`can_infer` and the project's earlier rules on labelled replies: `python bench/extraction.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from types import SimpleNamespace

from dataengine.core.formats import LETTERS

# An LLM that reads the choice from a reply when the rules cannot: (question, options, reply) -> letter
# or None. The last fall-back of `generate` scoring, as in MMBench's evaluation (dataengine.eval.extractor).
Extractor = Callable[[str, Sequence[str], str], str | None]

_MARKUP = re.compile(r"\*+|`+|#+|\$|</?answer>|\\boxed\{([A-Za-z])\}", re.IGNORECASE)
_PREFIX = r"(?:(?:the\s+)?(?:final\s+|correct\s+|best\s+)?(?:answer|option|choice)\s*(?:is\s*)?[:：-]?\s*)?"
# An answer statement: a cue, then the letter (checked by _stated_letter); case-insensitive cues.
_CUES = [
    r"\banswers?\s*(?:is|would\s+be|should\s+be|will\s+be)?\s*[:：]?\s*(?:option\s+|choice\s+)?",
    r"\b(?:correct|right|best|final)\s+(?:option|choice)\s*(?:is|would\s+be)?\s*[:：]?\s*",
    r"\bI\s*(?:would|will|'d|’d)?\s+(?:choose|pick|select|go\s+with|say)\s+(?:option\s+)?",
    r"\bI\s+(?:think|believe)\s+(?:(?:that\s+)?(?:it\s+is|it's|it’s)\s+)?(?:option\s+)?",
]

_NEGATED = re.compile(r"\b(?:not|neither|nor)\s+(?:option\s+)?$", re.IGNORECASE)
_NUMBERS = dict(zip("zero one two three four five six seven eight nine ten".split(), map(str, range(11))))
_NEGATIONS = {"not", "t", "never", "neither", "nor"}  # "t": the n't of "isn't", split off by _words
_ARTICLES = {"a", "an", "the"}


@cache
def _rules(last: str) -> SimpleNamespace:
    """The patterns for an item whose option letters run from A to `last`."""
    letters = f"A-{last}"  # upper case; rules matching either case add a-...
    either = f"{letters}{letters.lower()}"
    letter = rf"(?<![\w'’])[\(\[]?(?P<letter>[{either}])[\)\]]?(?![\w'’])"  # a letter, not a word's first or last
    return SimpleNamespace(
        whole=re.compile(rf"\s*{_PREFIX}{letter}\s*[.:)]?\s*", re.IGNORECASE),
        cue=re.compile(f"(?:{'|'.join(_CUES)}){letter}", re.IGNORECASE),
        letter_first=re.compile(
            rf"(?:\boption\s+)?{letter}\s+(?:is|seems|looks)\s+(?:to\s+be\s+)?(?:the\s+)?(?:correct|right|best|answer)\b",
            re.IGNORECASE,
        ),
        conclusion=re.compile(
            rf"\b(?:so|therefore|thus|hence|means)\b[,:]?\s+{letter}(?=[.!]?\s*$|[.!]\s)", re.IGNORECASE
        ),
        leading=re.compile(
            r"\s*(?:option\s+|choice\s+)?"
            rf"(?:[\(\[](?P<b>[{either}])[\)\]]|(?P<d>[{either}])[.:)]|(?-i:(?P<s>[{letters}]))\s*(?:[-–—:]|,))(?=\s|$)",
            re.IGNORECASE,
        ),
        enumerated=re.compile(rf"(?:^|\s)[\(\[]?([{letters}])[\)\].:](?=\s)"),  # "A. red B. green": an echoed list
        alone=re.compile(rf"(?<![\w'’/\\.-])[{letters}](?![\w'’/-])"),
        hedge=re.compile(
            rf"\s*[\)\]]?\s*(?:,|/|\bor\b|\band\b)\s*(?:option\s+)?[\(\[]?(?-i:[{letters}])(?![\w'’])", re.IGNORECASE
        ),
    )


def _rules_for(options: Sequence[str]) -> SimpleNamespace:
    return _rules(LETTERS[max(len(options), 4) - 1])


def extract_choice(
    reply: str, options: Sequence[str], question: str = "", extractor: Extractor | None = None
) -> tuple[str | None, str]:
    """(letter, rule) read from a generated reply: a stated letter (rule `letter`), else one option's
    text (`option_text`), else the LLM `extractor` when one is given (`llm`); (None, 'none') when all
    fail or the reply states several letters."""
    letter = read_letter(reply, options)
    if letter:
        return letter, "letter"
    if letter is None:  # not False: the reply names several letters
        letter = read_option_text(reply, options)
        if letter:
            return letter, "option_text"
    if extractor is not None:
        letter = extractor(question, options, reply)
        if letter in tuple(LETTERS[: len(options)]):  # a tuple: None, "" or "AB" are no letter
            return letter, "llm"
    return None, "none"


def read_letter(reply: str, options: Sequence[str]) -> str | None | bool:
    """The letter a reply states (rules 1-4 of the module's docstring), None when it states none, False
    when its statements disagree."""
    text = _MARKUP.sub(lambda m: f"answer: {m[1]}" if m[1] else "", reply).strip()
    valid, rules = LETTERS[: len(options)], _rules_for(options)
    first_line = text.split("\n", 1)[0]
    stated = {
        letter
        for pattern in (rules.cue, rules.letter_first, rules.conclusion)
        for match in pattern.finditer(text)
        if (letter := _stated_letter(text, match, options, after_cue=pattern is rules.cue))
    }
    if (whole := rules.whole.fullmatch(first_line)) and whole["letter"].upper() in valid:
        stated.add(whole["letter"].upper())  # a later statement of another letter ("Answer: A\nAnswer: B") disagrees
    if len(stated) > 1:
        return False
    if stated:
        return stated.pop()
    listed = {m[1] for m in rules.enumerated.finditer(text)}
    if (leading := rules.leading.match(first_line)) and len(listed) < 2:
        group = next(name for name in "bds" if leading[name])
        if rules.hedge.match(first_line, leading.end(group) + (group == "b")):
            return False
        letter = leading[group].upper()
        return letter if letter in valid else None
    blank = _without_options(text, options)  # the same length: offsets hold in `text`
    alone = [m for m in rules.alone.finditer(blank) if m[0] in valid and not _NEGATED.search(text[: m.start()])]
    if any(rules.hedge.match(text, m.end()) for m in alone):
        return False
    letters = {m[0] for m in alone if not _article(text, m.end(), m[0], options)}
    return letters.pop() if len(letters) == 1 else None


def _stated_letter(text: str, match: re.Match, options: Sequence[str], after_cue: bool) -> str | None:
    """The letter of an answer statement, unless it is not among the options, is a hedge ("A or B"),
    or, after a cue, an article ("the answer is a dog")."""
    letter, start, end = match["letter"], match.start("letter"), match.end("letter")
    if letter.upper() not in LETTERS[: len(options)] or _rules_for(options).hedge.match(text, end):
        return None
    if after_cue and not (start > 0 and text[start - 1] in "(["):
        if letter.islower() and re.match(r"\s*\w", text[end:]) or _article(text, end, letter, options):
            return None
    return letter.upper()


def _article(text: str, end: int, letter: str, options: Sequence[str]) -> bool:
    """Whether an 'A' or 'I' ending at `end` is a word (the article, the pronoun): a lower-case word
    follows, and not the text of the option it names."""
    if letter.upper() not in "AI" or not re.match(r"\s+[a-z]", text[end:]):
        return False
    return not _words(text[end:])[: len(core := _core(options[LETTERS.index(letter.upper())]))] == core


def _without_options(text: str, options: Sequence[str]) -> str:
    """`text` with every option's text replaced by as many '_', so that the 'C' of "Vitamin C" is no letter."""
    for option in sorted(options, key=len, reverse=True):
        if option.strip():
            pattern = rf"(?<!\w){re.escape(option.strip())}(?!\w)"
            text = re.sub(pattern, lambda m: "_" * len(m[0]), text, flags=re.IGNORECASE)
    return text


def read_option_text(reply: str, options: Sequence[str]) -> str | None:
    """The letter of the one option whose words occur in the reply (rule 5), else None."""
    words = _words(reply)
    cores = [_core(option) for option in options]
    spans = []  # (start, end, option index) of every occurrence
    for index, core in enumerate(cores):
        n = len(core)
        spans += [(s, s + n, index) for s in range(len(words) - n + 1) if core and words[s : s + n] == core]
    found = {
        index
        for start, end, index in spans
        if not any(s <= start and end <= e and e - s > end - start for s, e, _ in spans)  # inside a longer one
        and not _NEGATIONS & set(words[max(0, start - 3) : start])
    }
    return LETTERS[found.pop()] if len(found) == 1 else None


def _words(text: str) -> list[str]:
    """Lower-case words, number words as digits: "Three dogs" -> ["3", "dogs"]."""
    return [_NUMBERS.get(word, word) for word in re.findall(r"\w+", text.lower())]


def _core(option: str) -> list[str]:
    """An option's words without a leading article: "a street" -> ["street"]."""
    words = _words(option)
    return words[1:] if len(words) > 1 and words[0] in _ARTICLES else words
