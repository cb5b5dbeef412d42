"""Interactive prompt optimisation (the paper's third module): rounds of generate -> review -> revise.

Each round generates a few samples of one type with the current prompt version, a reviewer (a person
in the terminal, a feedback file, or the automatic check against the annotation) marks each correct
or wrong with a note, and the LLM proposes a revised type definition from the failures and notes,
which the reviewer accepts, edits or rejects. Prompt versions are whole prompt folders saved under
<versions>/<version>/ (the version is the teacher's content hash), so pointing `teacher.prompts` at
one makes it an input of generation. Every step is appended to <sessions>/<qtype>/session.jsonl as
it happens: an interrupted session resumes at the first sample without a verdict.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import yaml

from dataengine.jsonl import read_jsonl
from dataengine.openai_teacher.prompts import PROMPT_FILES, load_prompts, prompt_annotation
from dataengine.openai_teacher.settings import OpenAISettings
from dataengine.qtypes import qtype_name
from dataengine.synthetic import annotation_to_scene, is_synthetic_annotation, question_variants
from dataengine.validate import CHOICE_LETTERS, check_reply, normalise

VERDICTS = ("correct", "wrong", "skip")
SESSION_FILE = "session.jsonl"
REVISION_SYSTEM = (
    "You improve the type definition in a prompt that makes an LLM write multiple-choice questions about "
    "an image from its annotation. You get the current definition, the samples a reviewer marked wrong and "
    "the reviewer's notes. Keep what works, fix what the notes point at, stay short. Reply with the whole "
    "revised definition between <prompt> and </prompt>."
)
_PROMPT_TAG = re.compile(r"<prompt>\s*(.*?)\s*</prompt>", re.DOTALL)


@dataclass(frozen=True)
class Verdict:
    verdict: str  # one of VERDICTS; "skip" is neither correct nor wrong (e.g. cannot be checked)
    note: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")


@dataclass(frozen=True)
class Proposal:
    """A revision the LLM proposed: the current and proposed definitions and their unified diff."""

    qtype: int
    current: str
    proposed: str

    @property
    def diff(self) -> str:
        return unified_diff(self.current, self.proposed, "current", "proposed")


class Reviewer(Protocol):
    def review(self, sample: dict) -> Verdict | None:
        """The verdict on one sample; None stops the session (it resumes at this sample)."""

    def decide(self, proposal: Proposal) -> str | None:
        """The definition to adopt (the proposal, or an edit of it); None rejects the proposal."""


@dataclass(frozen=True)
class Options:
    qtype: int
    rounds: int
    samples: int
    target: float
    seed: int
    sessions: Path  # the session of type q is <sessions>/<q>/
    versions: Path


@dataclass
class RoundState:
    samples: list[dict] | None = None
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    summary: dict | None = None
    revision: dict | None = None


@dataclass
class Session:
    """What the session file says so far (its last session): the resumable state."""

    start: dict
    rounds: dict[int, RoundState]
    end: dict | None

    @property
    def version(self) -> str:
        """The version in force: the start's, then each accepted or edited revision's."""
        version = self.start["version"]
        for n in sorted(self.rounds):
            if (rev := self.rounds[n].revision) and rev["decision"] != "rejected":
                version = rev["to"]
        return version


# ---------------------------------------------------------------- prompt versions


class _BlockDumper(yaml.SafeDumper):
    """Multi-line definitions as `|` blocks: readable files, and line-by-line diffs between versions."""

    def represent_str(self, data: str):
        return self.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_BlockDumper.add_representer(str, _BlockDumper.represent_str)


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm="")
    return "\n".join(lines)


def save_version(source: Path, versions: Path, qtype: int | None = None, definition: str | None = None) -> str:
    """Copy a prompt folder to <versions>/<version>/, with type `qtype`'s definition replaced; the
    version is the teacher's content hash, so the same text always lands in the same folder."""
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "prompts"
        staged.mkdir()
        for name in PROMPT_FILES:
            shutil.copyfile(source / name, staged / name)
        if definition is not None:
            types = staged / "types.yaml"
            header = [line for line in types.read_text().splitlines() if line.startswith("#")]
            definitions = {**yaml.safe_load(types.read_text()), qtype: definition.strip()}
            body = yaml.dump(
                dict(sorted(definitions.items())), Dumper=_BlockDumper, allow_unicode=True, width=100, sort_keys=False
            )
            types.write_text("\n".join(header + [body]))
        version = load_prompts(staged).version
        target = versions / version
        if not target.exists():
            versions.mkdir(parents=True, exist_ok=True)
            shutil.copytree(staged, target)
    return version


def version_diff(versions: Path, old: str, new: str) -> str:
    """Unified diff of every prompt file between two saved versions."""
    parts = []
    for name in PROMPT_FILES:
        a, b = (versions / v / name for v in (old, new))
        parts.append(unified_diff(a.read_text(), b.read_text(), f"{old}/{name}", f"{new}/{name}"))
    return "\n".join(p for p in parts if p)


# ---------------------------------------------------------------- the session file


def session_path(options: Options) -> Path:
    return options.sessions / str(options.qtype) / SESSION_FILE


def _append(path: Path, event: dict) -> None:
    """One event per line, flushed as it happens, so an interruption loses at most the current step."""
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps({**event, "time": round(time.time(), 3)}) + "\n")


def read_session(path: Path) -> Session | None:
    """The last session recorded in `path`, or None when there is none."""
    if not path.exists():
        return None
    events = read_jsonl(path)
    starts = [i for i, e in enumerate(events) if e.get("event") == "start"]
    if not starts:
        raise ValueError(f"{path}: no 'start' event; not a prompt session file")
    session = Session(events[starts[-1]], {}, None)
    for line, event in enumerate(events[starts[-1] + 1 :], start=starts[-1] + 2):
        kind = event.get("event")
        if kind == "end":
            session.end = event
            continue
        if kind not in ("samples", "verdict", "round", "revision"):
            raise ValueError(f"{path}: line {line}: unknown event {kind!r}")
        state = session.rounds.setdefault(int(event["round"]), RoundState())
        if kind == "samples":
            state.samples = event["samples"]
        elif kind == "verdict":
            state.verdicts[event["sample_id"]] = Verdict(event["verdict"], event.get("note", ""))
        elif kind == "round":
            state.summary = event
        else:
            state.revision = event
    return session


# ---------------------------------------------------------------- generation and review


def round_queries(pool: list[dict], qtype: int, k: int, seed: int, round_no: int) -> list[dict]:
    """K pool images that carry the type (fresh ones each round, fixed by seed and round)."""
    fit = [a for a in pool if a.get("qtypes") is None or qtype in a["qtypes"]]
    if not fit:
        raise ValueError(f"the pool has no image annotated as supporting type {qtype}")
    rng = np.random.default_rng([seed, qtype, round_no])
    picks = rng.choice(len(fit), size=min(k, len(fit)), replace=False)
    return [
        {
            "query_id": f"r{round_no}-s{i:03d}",
            "qtype": qtype,
            "image_id": fit[j]["image_id"],
            "image": fit[j]["image"],
            "annotation": fit[j],
            "in_context": [],
        }
        for i, j in enumerate(picks)
    ]


def generate_samples(queries: list[dict], teacher_cfg: dict, prompts: Path, cache: Path, seed: int) -> list[dict]:
    """The teacher's sample per query with the given prompt folder; a reply the teacher gave up on
    keeps its failure reason (the round counts it wrong without asking the reviewer)."""
    from dataengine.openai_teacher.generation import generate_openai

    generation = generate_openai(queries, {**teacher_cfg, "prompts": str(prompts), "cache": str(cache)}, seed)
    samples = []
    for query, response in zip(queries, generation.responses):
        reply, reason = (
            (None, response["failure"]) if "failure" in response else check_reply(response["content"], query)
        )
        sample = {
            "sample_id": query["query_id"],
            "qtype": query["qtype"],
            "image": query["image"],
            "annotation": prompt_annotation(query["annotation"]),
        }
        samples.append({**sample, "reply": reply} if reply else {**sample, "failure": reason})
    return samples


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
    if options[CHOICE_LETTERS.index(letter)] != short:
        return Verdict(
            "wrong", f"choice {letter} is {reply['options'][CHOICE_LETTERS.index(letter)]!r}, not the answer"
        )
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

    def review(self, sample: dict) -> Verdict:
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

    def review(self, sample: dict) -> Verdict:
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
    a(ccept) / e(dit in $EDITOR) / r(eject) per revision. Reads lines, so it works over any terminal."""

    def __init__(self, image_root: Path, ask=input, say=print, editor: str = "vi"):
        self.image_root, self.ask, self.say, self.editor = image_root, ask, say, editor

    def _key(self, prompt: str, keys: str) -> str:
        while True:
            try:
                key = self.ask(prompt).strip().lower()[:1]
            except EOFError:
                return "q"
            if key and key in keys:
                return key
            self.say(f"  one of {', '.join(keys)} please")

    def review(self, sample: dict) -> Verdict | None:
        reply = sample["reply"]
        self.say(f"\n=== {sample['sample_id']}  type {sample['qtype']} ({qtype_name(int(sample['qtype']))})")
        self.say(f"image: {self.image_root / sample['image']}")
        self.say(f"annotation: {json.dumps(sample['annotation'], sort_keys=True)}")
        self.say(f"Q: {reply['instruction']}")
        for letter, option in zip(CHOICE_LETTERS, reply["options"]):
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


# ---------------------------------------------------------------- revision


def request_revision(settings: OpenAISettings, qtype: int, definition: str, failures: list[dict]) -> str:
    """Ask the teacher's endpoint (same model, server and key) for a revised type definition."""
    import openai

    notes = sorted({f["note"] for f in failures if f.get("note")})
    shown = [{k: f[k] for k in ("sample_id", "reply", "failure", "note") if f.get(k)} for f in failures]
    user = (
        f"Question type {qtype} ({qtype_name(qtype)}).\n<prompt>\n{definition}\n</prompt>\n"
        f"<failures>\n{chr(10).join(json.dumps(s, sort_keys=True) for s in shown)}\n</failures>\n"
        f"<notes>\n{chr(10).join(f'- {n}' for n in notes)}\n</notes>"
    )
    client = openai.OpenAI(
        base_url=settings.base_url,
        api_key=settings.api_key(),
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
    )
    completion = client.chat.completions.create(
        model=settings.model,
        messages=[{"role": "system", "content": REVISION_SYSTEM}, {"role": "user", "content": user}],
        temperature=settings.temperature,
        max_tokens=max(settings.max_tokens, 1000),
    )
    content = completion.choices[0].message.content or ""
    match = _PROMPT_TAG.search(content)
    if not match or not match[1]:
        raise ValueError(f"revision reply of {settings.model}: no <prompt>...</prompt> in {content[:200]!r}")
    return match[1]


# ---------------------------------------------------------------- the loop


def optimize(
    options: Options, teacher_cfg: dict, base_prompts: Path, pool: list[dict], reviewer: Reviewer, log=print
) -> Session:
    """Run (or resume) the session of `options.qtype` until the target, the last round, or the
    reviewer stops; returns the session as recorded. A resumed session keeps the rounds, sample count,
    target and seed it started with, so its rounds stay comparable."""
    path = session_path(options)
    path.parent.mkdir(parents=True, exist_ok=True)
    session = read_session(path)
    if session is None or session.end is not None:
        version = save_version(base_prompts, options.versions)
        start = {
            "event": "start",
            "qtype": options.qtype,
            "version": version,
            "rounds": options.rounds,
            "samples": options.samples,
            "target": options.target,
            "seed": options.seed,
        }
        _append(path, start)
        session = read_session(path)
    else:
        log(f"resuming the session in {path} at version {session.version}")
    settings = OpenAISettings.from_config({**teacher_cfg, "prompts": str(base_prompts)})
    start = session.start
    for n in range(1, start["rounds"] + 1):
        state = session.rounds.setdefault(n, RoundState())
        version = session.version
        if state.samples is None:
            queries = round_queries(pool, options.qtype, start["samples"], start["seed"], n)
            log(f"round {n}: generating {len(queries)} samples with {version}")
            state.samples = generate_samples(
                queries, teacher_cfg, options.versions / version, path.parent / "teacher.sqlite", start["seed"]
            )
            _append(path, {"event": "samples", "round": n, "version": version, "samples": state.samples})
        for sample in state.samples:
            if sample["sample_id"] in state.verdicts:
                continue
            verdict = check_sample(sample) if "failure" in sample else reviewer.review(sample)
            if verdict is None:
                log(f"stopped at {sample['sample_id']}; run the same command to resume")
                return session
            state.verdicts[sample["sample_id"]] = verdict
            _append(path, {"event": "verdict", "round": n, "sample_id": sample["sample_id"], **verdict.__dict__})
        if state.summary is None:
            counts = {v: sum(x.verdict == v for x in state.verdicts.values()) for v in VERDICTS}
            judged = counts["correct"] + counts["wrong"]
            state.summary = {
                "event": "round",
                "round": n,
                "version": version,
                **counts,
                "correctness": round(counts["correct"] / judged, 4) if judged else None,
            }
            _append(path, state.summary)
            log(f"round {n}: {counts['correct']}/{judged} correct with {version}")
        if (state.summary["correctness"] or 0.0) >= start["target"] or n == start["rounds"]:
            reason = "target" if (state.summary["correctness"] or 0.0) >= start["target"] else "rounds"
            session.end = {"event": "end", "reason": reason, "version": version}
            _append(path, session.end)
            return session
        if state.revision is None:
            failures = [
                {**s, **state.verdicts[s["sample_id"]].__dict__}
                for s in state.samples
                if state.verdicts[s["sample_id"]].verdict == "wrong"
            ]
            current = load_prompts(options.versions / version).definitions[options.qtype]
            proposal = Proposal(options.qtype, current, request_revision(settings, options.qtype, current, failures))
            adopted = reviewer.decide(proposal)
            decision = "rejected" if adopted is None else "accepted" if adopted == proposal.proposed else "edited"
            new = (
                version
                if adopted is None
                else save_version(options.versions / version, options.versions, options.qtype, adopted)
            )
            state.revision = {"event": "revision", "round": n, "from": version, "to": new, "decision": decision}
            _append(path, state.revision)
            log(f"round {n}: revision {decision}; version {new}")
    return session


# ---------------------------------------------------------------- history


def history(options: Options) -> str:
    """The table of rounds of the last session of the type, then the prompt diff of each revision."""
    path = session_path(options)
    session = read_session(path)
    if session is None:
        raise ValueError(f"no prompt session for type {options.qtype} in {path}")
    rows = [("round", "version", "correct", "wrong", "skip", "correctness", "revision")]
    for n in sorted(session.rounds):
        state = session.rounds[n]
        s = state.summary or {
            "version": session.version,
            "correct": "-",
            "wrong": "-",
            "skip": "-",
            "correctness": None,
        }
        rev = state.revision
        rows.append(
            (
                str(n),
                s["version"],
                str(s["correct"]),
                str(s["wrong"]),
                str(s["skip"]),
                "-" if s["correctness"] is None else f"{s['correctness']:.0%}",
                f"{rev['decision']} -> {rev['to']}" if rev else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"type {options.qtype} ({qtype_name(options.qtype)}), target {session.start['target']:.0%}, {path}"]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    end = session.end
    lines.append(f"ended: {end['reason']}, version {end['version']}" if end else "in progress")
    for n in sorted(session.rounds):
        rev = session.rounds[n].revision
        if rev and rev["decision"] != "rejected":
            lines += [
                "",
                f"round {n}: {rev['from']} -> {rev['to']} ({rev['decision']})",
                version_diff(options.versions, rev["from"], rev["to"]),
            ]
    return "\n".join(lines)
