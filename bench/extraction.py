"""`make bench-extraction`: how many labelled model replies each set of choice-reading rules reads right.

Reads tests/data/choice_replies_{dev,heldback}.jsonl (tests/data/README.md: written by hand after real
models' habits; the held-back set was committed before the rules and is never tuned on) and scores:
- `dataengine`: `dataengine.eval.choices.extract_choice`, the rules alone (no LLM extractor);
- `dataengine <ref>`: the project's rules before issue 18, read from git at `--baseline` (their own
  source, compiled here, so nothing is retyped);
- `VLMEvalKit classic`: `can_infer` as VLMEvalKit ran it from 2023 to August 2025 (the published
  MMBench leaderboards' exact matching); `VLMEvalKit e8e78f05`: as it is today (a letter counts only
  among a reply's last four words, option text only in a reply at most twice the options' length, and
  "answer is X" anywhere). Both are re-implemented below from vlmeval/utils/matching_util.py.
A reply is read right when the letter equals `expected`, or nothing is read where `expected` is null
(VLMEvalKit's 'Z' is nothing). Prints right / wrong letter / unread per set and, with --by-habit, per
habit; writes results/bench/extraction.json.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from dataengine.core.formats import LETTERS
from dataengine.eval.choices import extract_choice

REPO = Path(__file__).resolve().parent.parent
SETS = {name: REPO / "tests" / "data" / f"choice_replies_{name}.jsonl" for name in ("dev", "heldback")}
BASELINE = "f13be30"  # main before issue 18
Reader = Callable[[str, Sequence[str]], str | None]


def project_rules(ref: str) -> Reader:
    """`extract_choice` as dataengine/evaluate.py (eval/evaluate.py since the layers) defined it at git
    `ref`: its regexes, helpers and the function itself, compiled from that commit's source."""
    source = subprocess.run(
        ["git", "show", f"{ref}:dataengine/evaluate.py"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    wanted = {"_LONE_LETTER", "_LEADING_LETTER", "_normalise", "extract_choice"}
    nodes = [node for node in ast.parse(source).body if _names(node) & wanted]
    namespace = {"re": re, "Sequence": Sequence, "LETTERS": LETTERS, "Extractor": object}
    exec(compile(ast.Module(nodes, type_ignores=[]), f"{ref}:dataengine/evaluate.py", "exec"), namespace)  # noqa: S102
    return lambda reply, options: namespace["extract_choice"](reply, options)[0]


def _names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef):
        return {node.name}
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return {t.id for t in targets if isinstance(t, ast.Name)}


# ---- VLMEvalKit's can_infer, from the rules of vlmeval/utils/matching_util.py ----------------------
_PUNCTUATION = str.maketrans({c: " " for c in ".()[],:;!*#{}"})
_VERBOSE = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")
_REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)


def vlmevalkit(current: bool) -> Reader:
    def read(reply: str, options: Sequence[str]) -> str | None:
        choices = dict(zip(LETTERS, options))
        letter = _infer_option(reply, choices, current) or _infer_text(reply, choices, current)
        return letter if letter in choices else None  # 'Z' and False: nothing read

    return read


def _infer_option(reply: str, choices: dict, current: bool):
    """A choice letter standing alone among the reply's words (case-sensitive), when exactly one does."""
    if "Failed to obtain answer via API" in reply:
        return False
    if any(refusal in reply for refusal in _REFUSALS):
        return "Z"
    words = reply.translate(_PUNCTUATION).split()
    present = [letter for letter in choices if letter in words]
    if len(present) == 1:
        letter = present[0]
        if not current or words.index(letter) > len(words) - 5:  # current: among the last four words
            return letter
    elif not present and ("Z" in words or "" in words):
        return "Z"
    if current and (match := _VERBOSE.search(reply)) and match[1].upper() in choices:
        return match[1].upper()
    return False


def _infer_text(reply: str, choices: dict, current: bool):
    """The one option whose lower-cased text occurs anywhere in the lower-cased reply."""
    reply = reply.lower()
    if current and len(reply) > 2 * sum(len(str(option)) for option in choices.values()):
        return False
    found = [letter for letter, option in choices.items() if str(option).lower() in reply]
    return found[0] if len(found) == 1 else False


# ---- scoring -------------------------------------------------------------------------------------
def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score(read: Reader, rows: list[dict]) -> dict:
    """right / wrong (a letter, not the expected one) / unread (nothing, where a letter was expected),
    overall and right per habit."""
    outcomes, habits = Counter(), {}
    for row in rows:
        letter = read(row["reply"], row["options"])
        outcome = "right" if letter == row["expected"] else "unread" if letter is None else "wrong"
        outcomes[outcome] += 1
        habit = habits.setdefault(row["habit"], [0, 0])
        habit[0] += outcome == "right"
        habit[1] += 1
    n = len(rows)
    return {
        "n": n,
        "right": outcomes["right"],
        "wrong": outcomes["wrong"],
        "unread": outcomes["unread"],
        "accuracy": round(100 * outcomes["right"] / n, 1),
        "habits": habits,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="git ref of the project's earlier rules")
    parser.add_argument("--by-habit", action="store_true", help="also print the right replies per habit")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "bench" / "extraction.json")
    args = parser.parse_args()

    readers = {
        "dataengine": lambda reply, options: extract_choice(reply, options)[0],
        f"dataengine {args.baseline}": project_rules(args.baseline),
        "VLMEvalKit classic": vlmevalkit(current=False),
        "VLMEvalKit e8e78f05": vlmevalkit(current=True),
    }
    result = {name: {s: score(read, load(path)) for s, path in SETS.items()} for name, read in readers.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    for set_name in SETS:
        n = result["dataengine"][set_name]["n"]
        print(f"\n{set_name} set, {n} replies: right (%) / wrong letter / unread")
        for name in readers:
            row = result[name][set_name]
            print(f"  {name:22} {row['right']:4} ({row['accuracy']:5.1f} %) {row['wrong']:4} {row['unread']:4}")
        if args.by_habit:
            print(f"  {'habit':22} " + " ".join(f"{name.split()[-1][:9]:>9}" for name in readers))
            for habit, (_, total) in result["dataengine"][set_name]["habits"].items():
                cells = [f"{result[name][set_name]['habits'][habit][0]:>4}/{total:<4}" for name in readers]
                print(f"  {habit:22} " + " ".join(cells))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
