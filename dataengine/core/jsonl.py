"""JSON and JSONL read/write shared by every stage: errors name the file and line; writes are atomic so an
interrupted stage never leaves a half-written table that a rerun would trust."""

import json
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def jsonl_lines(path: str | Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """Each non-blank line of a JSONL file, streamed: (line number, its object, None), or (line
    number, None, what is wrong) where the line is not a JSON object."""
    with Path(path).open(encoding="utf-8") as lines:
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                yield line_no, None, f"invalid JSON ({err.msg})"
                continue
            if isinstance(record, dict):
                yield line_no, record, None
            else:
                yield line_no, None, f"expected a JSON object, got {type(record).__name__}"


def read_jsonl(path: str | Path) -> list[dict]:
    """All records of a JSONL file; blank lines are skipped; each line must be a JSON object."""
    records = []
    for line_no, record, problem in jsonl_lines(path):
        if problem:
            raise ValueError(f"{path}:{line_no}: {problem}")
        records.append(record)
    return records


@contextmanager
def atomic_writer(path: str | Path):
    """A text file opened through a temp file in the same folder and renamed into place on success:
    an interrupted write leaves the old file (or none), never half of one. Permissions follow the
    umask, like any other output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    """Write one JSON object per line, atomically."""
    with atomic_writer(path) as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> dict:
    """A JSON file; an unreadable or malformed one raises naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read JSON {path}: {err}") from None


def write_json(path: str | Path, data) -> None:
    """Write indented JSON with sorted keys, atomically."""
    with atomic_writer(path) as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")


def read_json_list(path: str | Path, what: str) -> list:
    """A JSON file holding a list (of `what`, for the message); an unreadable file or another shape
    raises naming the file."""
    data = read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of {what}, got {type(data).__name__}")
    return data
