"""Instruction data in LLaVA's conversation JSON (llava_v1_5_mix665k.json) as training records: the
paper's v2 trains every iteration on it plus all engine data so far.

`prepare` checks every entry once (a malformed one stops it, naming the entry) and writes the records
as JSONL; `RecordFile` reads a training step's rows from that file by their offsets, so a job holds
the offsets of 665k conversations rather than their text. The first human turn is normalised as
LLaVA's own loader does: `<image>` anywhere in it moves to the front ("<image>\\n" + the rest), and a
leading turn that is not the human's is dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from dataengine.core.formats import IMAGE_TOKEN
from dataengine.core.jsonl import read_json_list, write_json, write_jsonl
from dataengine.train.records import TrainRecord

HUMAN, GPT = "human", "gpt"
SHOWN_MISSING = 5  # missing images a message names

log = logging.getLogger("dataengine")


def prepare(
    path: str | Path, image_dir: str | Path, out: str | Path, stats_out: str | Path, missing_images: str = "error"
) -> dict:
    """Read LLaVA's JSON at `path`, check every entry, and write its records to `out` (JSONL: id,
    image relative to `image_dir` or null, turns as [prompt, reply] pairs) and counts to `stats_out`.
    An entry whose image is not on disk stops the job naming it (`missing_images: error`) or is left
    out and counted (`skip`)."""
    path, image_dir = Path(path), Path(image_dir)
    entries = read_json_list(path, "conversations")
    records, missing = [], []
    for index, entry in enumerate(entries):
        record = parse_entry(entry, f"{path}: entry {index}")
        if record["image"] is not None and not (image_dir / record["image"]).is_file():
            missing.append(f"entry {index} (id {record['id']!r}): {image_dir / record['image']}")
            continue
        records.append(record)
    if missing and missing_images == "error":
        raise FileNotFoundError(
            f"{path}: {len(missing)} entries name an image that is not under {image_dir}: "
            + "; ".join(missing[:SHOWN_MISSING])
            + " (train.base_data.missing_images: skip leaves them out)"
        )
    stats = {
        "entries": len(entries),
        "records": len(records),
        "text_only": sum(record["image"] is None for record in records),
        "multi_turn": sum(len(record["turns"]) > 1 for record in records),
        "turns": sum(len(record["turns"]) for record in records),
        "skipped_missing_image": len(missing),
        "skipped_examples": missing[:SHOWN_MISSING],
    }
    if missing:
        log.warning("%s: left out %d entries whose image is missing, e.g. %s", path, len(missing), missing[0])
    write_jsonl(out, records)
    write_json(stats_out, stats)
    return stats


def parse_entry(entry: object, where: str) -> dict:
    """One LLaVA entry ({id, image?, conversations: [{from, value}, ...]}) as {id, image, turns}; a
    ValueError names `where` and what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object, got {type(entry).__name__}")
    where = f"{where} (id {entry.get('id')!r})"
    image = entry.get("image")
    if image is not None and not isinstance(image, str):
        raise ValueError(f"{where}: `image` must be one path, got {image!r}")
    turns = entry.get("conversations")
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        raise ValueError(f"{where}: `conversations` must be a list of {{from, value}} objects")
    if turns and turns[0].get("from") != HUMAN:
        turns = turns[1:]  # as LLaVA's preprocess does
    if len(turns) < 2 or len(turns) % 2:
        raise ValueError(f"{where}: needs human/gpt turn pairs, got {len(turns)} turns")
    texts = []
    for number, turn in enumerate(turns):
        role, value = turn.get("from"), turn.get("value")
        expected = HUMAN if number % 2 == 0 else GPT
        if role != expected:
            raise ValueError(f"{where}: turn {number} is from {role!r}, expected {expected!r}")
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: turn {number} has no text")
        if IMAGE_TOKEN in value and (number > 0 or image is None):
            place = "without an image" if image is None else f"in turn {number}; only the first may hold it"
            raise ValueError(f"{where}: {IMAGE_TOKEN} {place}")
        texts.append(value)
    if image is not None:
        if texts[0].count(IMAGE_TOKEN) != 1:
            raise ValueError(f"{where}: the first human turn must hold {IMAGE_TOKEN} once (it has an image)")
        texts[0] = f"{IMAGE_TOKEN}\n{texts[0].replace(IMAGE_TOKEN, '').strip()}"
    return {
        "id": str(entry.get("id", "")),
        "image": image,
        "turns": [list(pair) for pair in zip(texts[::2], texts[1::2])],
    }


class RecordFile(Sequence[TrainRecord]):
    """The records `prepare` wrote, read row by row from the file (by byte offset): picklable for
    loader workers, and as small in memory as one offset per record."""

    def __init__(self, path: str | Path, image_dir: str | Path):
        self.path, self.image_dir = Path(path), Path(image_dir)
        offsets, position = [], 0
        with self.path.open("rb") as lines:
            for line in lines:
                if line.strip():
                    offsets.append(position)
                position += len(line)
        self.offsets = np.asarray(offsets, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        with self.path.open("rb") as lines:
            lines.seek(int(self.offsets[row]))
            return self._record(lines.readline())

    def __iter__(self) -> Iterator[TrainRecord]:
        with self.path.open("rb") as lines:
            yield from (self._record(line) for line in lines if line.strip())

    def _record(self, line: bytes) -> TrainRecord:
        entry = json.loads(line)
        (prompt, target), *follow_ups = entry["turns"]
        image = None if entry["image"] is None else self.image_dir / entry["image"]
        return TrainRecord(image, prompt, target, tuple(map(tuple, follow_ups)))
