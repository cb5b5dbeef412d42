"""A content-addressed response cache in SQLite: no successful call is ever paid for twice.

The key is a hash of what determines a reply (model, messages, sampling parameters), so a rerun, a
resumed run or another run asking the same thing finds it, and a changed prompt does not. Only
validated replies are stored: a failure is asked again next time. SQLite in WAL mode with one
connection per thread survives a killed writer and concurrent jobs sharing one file (measured on
these machines). It never holds credentials: nothing from the client's configuration but the model
name goes in.

Jobs sharing the file pay each request once: right before a call, a job claims the request's key in
the same transaction that looks for its reply; a key another live job has claimed is waited for
(its reply then comes from the cache). A claim lapses when its job dies: on the same host at once,
elsewhere once its heartbeat is CLAIM_TTL_S old.

A cache that cannot be trusted (emptied to 0 bytes, garbled, deleted while its ledger records
replies) stops the job, naming the file, unless the user says to start it afresh (`set_aside`).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

KEY_VERSION = 1  # bump when what a key means changes, so old entries stop matching
CLAIM_TTL_S = 60.0  # a claim whose heartbeat is older belongs to a dead job
HEARTBEAT_S = 10.0  # how often a job refreshes its claims
RESTART_HINT = (
    "set teacher.restart_damaged_cache: true (dataengine teacher: --restart-damaged-cache) "
    "to move it aside and start a new one; the replies it held are then asked, and paid for, again"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, content TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY, keys TEXT NOT NULL, collected INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, heartbeat REAL NOT NULL);
"""


class CacheDamaged(RuntimeError):
    """The cache file cannot be trusted; the message names it and says how to start afresh."""


def request_key(model: str, messages: list[dict], sampling: dict) -> str:
    """sha256 of the canonical JSON of (key version, model, messages, sampling parameters)."""
    canonical = json.dumps(
        {"v": KEY_VERSION, "model": model, "messages": messages, "sampling": sampling},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def cache_problem(path: str | Path, cached_replies: int) -> str | None:
    """What makes the cache file untrustworthy, or None. `cached_replies`: the validated replies its
    ledger records since it was last started afresh (a missing file that held some was deleted)."""
    path = Path(path)
    if not path.exists():
        return f"is missing, but its ledger records {cached_replies} cached replies" if cached_replies else None
    if path.stat().st_size == 0:
        return "is empty (0 bytes): the replies it held are gone"
    try:
        with closing(sqlite3.connect(path, timeout=30)) as db:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        return f"is damaged ({err})"
    if check != "ok":
        return f"is damaged (integrity check: {check})"
    if "replies" not in tables:
        return "is not a teacher response cache (it has no replies table)"
    return None


def set_aside(path: str | Path) -> Path | None:
    """Move a damaged cache (and its WAL files) to `<name>.damaged-<UTC time>`; None if there was none."""
    path = Path(path)
    if not path.exists():
        return None
    moved = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.replace(f"{path}{suffix}", f"{moved}{suffix}")
    return moved


@dataclass(frozen=True)
class CachedReply:
    content: str
    prompt_tokens: int
    completion_tokens: int


class ResponseCache:
    """Validated replies by request key, in an SQLite file shared by threads, jobs and runs."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._local = threading.local()
        if not self.path.exists():
            self._create()
        with self._errors():
            self._db().executescript(_SCHEMA)  # caches made before the claims table get it

    def _create(self) -> None:
        """Make the file whole, then link it into place: a valid cache is never seen half-made, so a
        cache of 0 bytes can only have been emptied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{self.owner.replace(':', '.')}.tmp")
        try:
            with closing(sqlite3.connect(tmp)) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
            os.link(tmp, self.path)
        except FileExistsError:
            pass  # another job made it first
        finally:
            tmp.unlink(missing_ok=True)

    def _db(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            with self._errors():
                connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors with the file named: a damaged file stops the job with the way out."""
        try:
            yield
        except sqlite3.OperationalError as err:  # locked past the timeout, disk full, unreadable
            raise RuntimeError(f"response cache {self.path}: {err}") from None
        except sqlite3.DatabaseError as err:
            raise CacheDamaged(f"response cache {self.path} is damaged ({err}); {RESTART_HINT}") from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        with self._errors():
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def get(self, key: str) -> CachedReply | None:
        with self._errors():
            row = (
                self._db()
                .execute("SELECT content, prompt_tokens, completion_tokens FROM replies WHERE key = ?", (key,))
                .fetchone()
            )
        return CachedReply(*row) if row else None

    def claim(self, key: str) -> CachedReply | bool:
        """The cached reply when there is one; else True when this job may ask for it (the key is now
        claimed for it), False while another live job is asking for it."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT content, prompt_tokens, completion_tokens FROM replies WHERE key = ?", (key,)
            ).fetchone()
            if row:
                return CachedReply(*row)
            holder = db.execute("SELECT owner, heartbeat FROM claims WHERE key = ?", (key,)).fetchone()
            if holder and holder[0] != self.owner and _alive(*holder):
                return False
            db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?)", (key, self.owner, time.time()))
            return True

    def release(self, key: str) -> None:
        """Give up this job's claim on `key` (its call failed, or it is stopping)."""
        with self._errors():
            self._db().execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner))

    def heartbeat(self) -> None:
        """Show that this job is still asking for the keys it claimed."""
        with self._errors():
            self._db().execute("UPDATE claims SET heartbeat = ? WHERE owner = ?", (time.time(), self.owner))

    def put(self, key: str, model: str, reply: CachedReply) -> None:
        """Store a validated reply and release this job's claim on it, in one transaction."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO replies VALUES (?, ?, ?, ?, ?, ?)",
                (key, model, reply.content, reply.prompt_tokens, reply.completion_tokens, time.time()),
            )
            db.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner))

    def __len__(self) -> int:
        with self._errors():
            return self._db().execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def add_batch(self, batch_id: str, keys: list[str]) -> None:
        """Remember a submitted batch, so a job killed while it runs collects it instead of paying again."""
        with self._errors():
            self._db().execute(
                "INSERT OR IGNORE INTO batches VALUES (?, ?, 0, ?)", (batch_id, json.dumps(keys), time.time())
            )

    def open_batches(self) -> dict[str, list[str]]:
        with self._errors():
            rows = self._db().execute("SELECT batch_id, keys FROM batches WHERE collected = 0").fetchall()
        return {batch_id: json.loads(keys) for batch_id, keys in rows}

    def close_batch(self, batch_id: str) -> None:
        with self._errors():
            self._db().execute("UPDATE batches SET collected = 1 WHERE batch_id = ?", (batch_id,))


def _alive(owner: str, heartbeat: float) -> bool:
    """Whether the job holding a claim still runs: a recent heartbeat, and on this host a live pid."""
    host, pid, _ = owner.rsplit(":", 2)
    if host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's live process
    return time.time() - heartbeat < CLAIM_TTL_S
