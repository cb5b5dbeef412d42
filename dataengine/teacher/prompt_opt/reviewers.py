"""Who judges a round's samples and its revision proposals: the automatic check against the image's
annotation, a feedback file (scripted sessions), or a person in the terminal."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Protocol

import yaml
from PIL import Image

from dataengine.core.formats import LETTERS
from dataengine.core.jsonl import read_jsonl
from dataengine.core.qtypes import TypeTable
from dataengine.data.synthetic.annotations import annotation_to_scene, is_synthetic_annotation
from dataengine.data.synthetic.questions import question_variants
from dataengine.teacher.prompt_opt.session import Proposal, Verdict
from dataengine.teacher.validate import normalise


class Reviewer(Protocol):
    def review(self, sample: dict, position: tuple[int, int]) -> Verdict | None:
        """The verdict on sample k of a round's n (`position`); None stops the session (it resumes
        at this sample)."""

    def decide(self, proposal: Proposal) -> str | None:
        """The definition to adopt (the proposal, or an edit of it); None rejects the proposal."""


def check_sample(sample: dict) -> Verdict:
    """The automatic verdict: the sample against its image's annotation, with the synthetic world's
    question semantics. "skip" where the annotation cannot decide (a real pool, an unknown phrasing)."""
    if "failure" in sample:
        return Verdict("wrong", f"the teacher's reply was rejected: {sample['failure']}")
    reply, annotation = sample["reply"], sample["annotation"]
    if not is_synthetic_annotation(annotation):
        return Verdict("skip", "the annotation cannot verify this image")
    variants = question_variants(int(sample["qtype"]), annotation_to_scene(annotation))
    if not variants:
        return Verdict("wrong", f"the image cannot carry a type {sample['qtype']} question")
    options = [normalise(o) for o in reply["options"]]
    short = normalise(reply["short_answer"])
    if len(set(options)) != 4:
        return Verdict("wrong", "the options are not 4 distinct answers")
    letter = reply["choice_answer"]
    if options[LETTERS.index(letter)] != short:
        return Verdict("wrong", f"choice {letter} is {reply['options'][LETTERS.index(letter)]!r}, not the answer")
    asked = [v for v in variants if normalise(v.question) == normalise(reply["instruction"])]
    if not asked and len({normalise(v.answer) for v in variants}) == 1:
        asked = variants  # the phrasing is new but the image has one answer of this type
    if not asked:
        return Verdict("skip", "the question is phrased unlike any the annotation can check")
    truth = sorted({normalise(v.answer) for v in asked})
    if short not in truth:
        return Verdict("wrong", f"the answer is {reply['short_answer']!r}; the annotation says {' or '.join(truth)}")
    if not re.search(rf"\b{re.escape(short)}\b", normalise(reply["answer"])):
        return Verdict("wrong", f"the answer sentence does not say {reply['short_answer']!r}")
    return Verdict("correct")


class AutoReviewer:
    """Verdicts from the annotation (check_sample); every proposed revision is adopted."""

    def review(self, sample: dict, position: tuple[int, int] | None = None) -> Verdict:
        return check_sample(sample)

    def decide(self, proposal: Proposal) -> str:
        return proposal.proposed


class FileReviewer:
    """Verdicts from a YAML/JSON file {sample_id: {verdict, note}} or JSONL lines {sample_id, verdict,
    note}, for scripted sessions; every proposed revision is adopted."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.suffix == ".jsonl":
            self.verdicts = {str(r["sample_id"]): r for r in read_jsonl(self.path)}
        else:
            self.verdicts = {str(k): v for k, v in (yaml.safe_load(self.path.read_text()) or {}).items()}

    def review(self, sample: dict, position: tuple[int, int] | None = None) -> Verdict:
        entry = self.verdicts.get(sample["sample_id"])
        if not isinstance(entry, dict) or "verdict" not in entry:
            raise ValueError(f"feedback file {self.path}: no verdict for sample {sample['sample_id']}")
        try:
            return Verdict(str(entry["verdict"]), str(entry.get("note") or ""))
        except ValueError as err:
            raise ValueError(f"feedback file {self.path}: sample {sample['sample_id']}: {err}") from None

    def decide(self, proposal: Proposal) -> str:
        return proposal.proposed


class TerminalReviewer:
    """A person at the keyboard: c(orrect) / w(rong) / n(ote) / s(kip) / q(uit) per sample, and
    a(ccept) / e(dit in $EDITOR) / r(eject) per revision. Reads lines, so it works over any terminal;
    on a colour terminal (`colour`, default: stdout is one) the image is drawn too, small. `types` name
    the samples' types."""

    def __init__(
        self,
        image_root: Path,
        types: TypeTable,
        ask=input,
        say=print,
        editor: str = "vi",
        colour: bool | None = None,
    ):
        self.image_root, self.types, self.ask, self.say, self.editor = image_root, types, ask, say, editor
        self.colour = sys.stdout.isatty() if colour is None else colour

    def _key(self, prompt: str, keys: str) -> str:
        while True:
            try:
                key = self.ask(prompt).strip().lower()[:1]
            except EOFError:
                return "q"
            if key and key in keys:
                return key
            self.say(f"  one of {', '.join(keys)} please")

    def review(self, sample: dict, position: tuple[int, int] | None = None) -> Verdict | None:
        reply = sample["reply"]
        of = f"sample {position[0]} of {position[1]}: " if position else ""
        self.say(f"\n=== {of}{sample['sample_id']}  type {sample['qtype']} ({self.types.name(sample['qtype'])})")
        self.say(f"image: {self.image_root / sample['image']}")
        if self.colour:
            self.say(thumbnail(self.image_root / sample["image"]))
        self.say(f"annotation: {json.dumps(sample['annotation'], sort_keys=True)}")
        self.say(f"Q: {reply['instruction']}")
        for letter, option in zip(LETTERS, reply["options"]):
            self.say(f"  {letter}. {option}{'   <- answer' if letter == reply['choice_answer'] else ''}")
        self.say(f"A: {reply['answer']}")
        note = ""
        while True:
            key = self._key("[c]orrect [w]rong [n]ote [s]kip [q]uit > ", "cwnsq")
            if key == "n":
                note = self.ask("note: ").strip()
                continue
            if key == "q":
                return None
            return Verdict({"c": "correct", "w": "wrong", "s": "skip"}[key], note)

    def decide(self, proposal: Proposal) -> str | None:
        self.say(f"\nproposed revision of type {proposal.qtype}'s definition:\n{proposal.diff}")
        key = self._key("[a]ccept [e]dit [r]eject > ", "aer")
        if key == "r":
            return None
        if key == "a":
            return proposal.proposed
        with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as tmp:
            tmp.write(proposal.proposed + "\n")
        try:
            subprocess.run([*shlex.split(self.editor), tmp.name], check=True)
            return Path(tmp.name).read_text().strip()
        finally:
            Path(tmp.name).unlink()


def thumbnail(path: Path, width: int = 32) -> str:
    """The image in a colour terminal: each character a half block, its foreground the upper pixel
    and its background the lower one (24-bit ANSI colours)."""
    with Image.open(path) as image:
        small = image.convert("RGB").resize((width, width * image.height // image.width // 2 * 2 or 2))
    pixels = small.load()
    rows = []
    for y in range(0, small.height, 2):
        cells = [
            f"\x1b[38;2;{';'.join(map(str, pixels[x, y]))};48;2;{';'.join(map(str, pixels[x, y + 1]))}m\u2580"
            for x in range(small.width)
        ]
        rows.append("".join(cells) + "\x1b[0m")
    return "\n".join(rows)
