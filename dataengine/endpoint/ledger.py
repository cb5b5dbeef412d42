"""The ledger of paid teacher calls: one JSON line per reply received, appended beside the cache the
moment the reply arrives, before it is checked or cached, and never rewritten.

A reply is billed whether or not it validates, and whether or not the job that asked for it lives to
write its outputs; the ledger is where every one of them is counted, so the report's cost includes
interrupted jobs and the seed set. Lines are tagged with the step (the output a job writes, stable
across its attempts) and the attempt (one id per job), so a step's cost sums all its attempts.
A call in flight when its job is killed with SIGKILL is billed but its reply never arrives: it is
not in the ledger, and the rerun pays for it again.

    {"event": "reply", "time", "step", "attempt", "key", "model", "batch": batch id or null,
     "prompt_tokens", "completion_tokens", "cost_usd", "outcome": "ok" or the content failure's reason}
    {"event": "cache_restarted", "time", "attempt", "moved_to"}

A Batch API reply is billed once however many jobs collect its batch (a job killed while a batch
runs, or two jobs sharing the cache, can both collect it): the sums count each (batch, key) once.

Appends take an exclusive lock on the file (processes sharing a cache share its ledger). It never
holds credentials: nothing from the client's configuration but the model name goes in.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path

log = logging.getLogger("dataengine")


def ledger_path(cache: str | Path) -> Path:
    """`teacher.sqlite` -> `teacher.ledger.jsonl`, in the cache's folder."""
    cache = Path(cache)
    return cache.with_name(f"{cache.stem}.ledger.jsonl")


class Ledger:
    """Appends this job's paid calls (`attempt` is its id) for `step`, and sums what the file holds."""

    def __init__(self, path: str | Path, step: str | None):
        self.path = Path(path)
        self.step = step
        self.attempt = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def reply(
        self,
        key: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float,
        outcome: str,
        batch: str | None = None,
    ) -> None:
        self._append(
            {
                "event": "reply",
                "step": self.step,
                "key": key,
                "model": model,
                "batch": batch,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cost_usd": cost_usd,
                "outcome": outcome,
            }
        )

    def cache_restarted(self, moved_to: str | None) -> None:
        self._append({"event": "cache_restarted", "moved_to": moved_to})

    def _append(self, record: dict) -> None:
        line = json.dumps({"time": round(time.time(), 3), "attempt": self.attempt, **record}) + "\n"
        with self._lock, open(self.path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0, os.SEEK_END)
            if handle.tell() > 0:  # a line torn by a crash (disk full) must not swallow this one
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")
            handle.write(line.encode("utf-8"))

    def records(self) -> list[dict]:
        """Every readable line; a damaged one is skipped with a warning naming the file and line."""
        if not self.path.exists():
            return []
        records = []
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    log.warning(
                        "teacher ledger %s: line %d is not JSON (a torn write?); not counted", self.path, number
                    )
        return records

    def paid(self) -> dict:
        """What this step has paid over every attempt (this job's alone when there is no step)."""
        if self.step:
            return _paid(r for r in self.records() if r.get("step") == self.step)
        return _paid(r for r in self.records() if r.get("attempt") == self.attempt)

    def paid_under(self, folder: str) -> dict:
        """What the steps writing under `folder` (a run's) have paid: a shared ledger holds other runs'."""
        prefix = folder.rstrip("/") + "/"
        return _paid(r for r in self.records() if str(r.get("step") or "").startswith(prefix))

    def cached_replies(self) -> int:
        """Replies recorded as validated (so cached) since the cache was last started afresh."""
        count = 0
        for record in self.records():
            if record.get("event") == "cache_restarted":
                count = 0
            elif record.get("event") == "reply" and record.get("outcome") == "ok":
                count += 1
        return count


def _paid(records) -> dict:
    """Replies, tokens, USD and attempts of reply records; a batch's reply counts once however many
    jobs collected it."""
    mine, batch_replies = [], set()
    for r in records:
        if r.get("event") != "reply":
            continue
        if r.get("batch"):
            if (r["batch"], r["key"]) in batch_replies:
                continue
            batch_replies.add((r["batch"], r["key"]))
        mine.append(r)
    return {
        "replies": len(mine),
        "prompt_tokens": sum(r["prompt_tokens"] for r in mine),
        "completion_tokens": sum(r["completion_tokens"] for r in mine),
        "cost_usd": round(sum(r["cost_usd"] for r in mine), 6),
        "attempts": len({r["attempt"] for r in mine}),
    }
