"""A content-addressed response cache in SQLite: no successful call is ever paid for twice.

The key is a hash of what determines a reply (model, messages, sampling parameters), so a rerun, a
resumed run or another run asking the same thing finds it, and a changed prompt does not. Only
validated replies are stored: a failure is asked again next time. SQLite in WAL mode with one
connection per thread survives a killed writer and concurrent jobs sharing one file (measured on
these machines). It never holds credentials: nothing from the client's
configuration but the model name goes in.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

KEY_VERSION = 1  # bump when what a key means changes, so old entries stop matching

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, content TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY, keys TEXT NOT NULL, collected INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
"""


def request_key(model: str, messages: list[dict], sampling: dict) -> str:
    """sha256 of the canonical JSON of (key version, model, messages, sampling parameters)."""
    canonical = json.dumps(
        {"v": KEY_VERSION, "model": model, "messages": messages, "sampling": sampling},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedReply:
    content: str
    prompt_tokens: int
    completion_tokens: int


class ResponseCache:
    """Validated replies by request key, in an SQLite file shared by threads, jobs and runs."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connection().executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            try:
                connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as err:
                raise ValueError(f"response cache {self.path}: cannot open ({err})") from None
            self._local.connection = connection
        return connection

    def get(self, key: str) -> CachedReply | None:
        row = (
            self._connection()
            .execute("SELECT content, prompt_tokens, completion_tokens FROM replies WHERE key = ?", (key,))
            .fetchone()
        )
        return CachedReply(*row) if row else None

    def put(self, key: str, model: str, reply: CachedReply) -> None:
        self._connection().execute(
            "INSERT OR IGNORE INTO replies VALUES (?, ?, ?, ?, ?, ?)",
            (key, model, reply.content, reply.prompt_tokens, reply.completion_tokens, time.time()),
        )

    def __len__(self) -> int:
        return self._connection().execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def add_batch(self, batch_id: str, keys: list[str]) -> None:
        """Remember a submitted batch, so a job killed while it runs collects it instead of paying again."""
        self._connection().execute(
            "INSERT OR IGNORE INTO batches VALUES (?, ?, 0, ?)", (batch_id, json.dumps(keys), time.time())
        )

    def open_batches(self) -> dict[str, list[str]]:
        rows = self._connection().execute("SELECT batch_id, keys FROM batches WHERE collected = 0").fetchall()
        return {batch_id: json.loads(keys) for batch_id, keys in rows}

    def close_batch(self, batch_id: str) -> None:
        self._connection().execute("UPDATE batches SET collected = 1 WHERE batch_id = ?", (batch_id,))
