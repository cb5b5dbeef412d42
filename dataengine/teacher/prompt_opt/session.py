"""A prompt-optimisation session as data: its options, the verdicts and revision proposals, and the
session file every step is appended to as it happens (so an interrupted session resumes)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from dataengine.core.jsonl import read_jsonl
from dataengine.core.qtypes import TypeTable
from dataengine.teacher.prompt_opt.versions import unified_diff

VERDICTS = ("correct", "wrong", "skip")
SESSION_FILE = "session.jsonl"


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


@dataclass(frozen=True)
class Options:
    qtype: int
    types: TypeTable  # the types the config knows (dataengine.core.qtypes.known_types), qtype among them
    rounds: int
    samples: int
    target: float
    seed: int
    sessions: Path  # the session of type q is <sessions>/<q>/
    versions: Path

    @property
    def type_name(self) -> str:
        return self.types.name(self.qtype)


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


def session_path(options: Options) -> Path:
    return options.sessions / str(options.qtype) / SESSION_FILE


def append_event(path: Path, event: dict) -> None:
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
