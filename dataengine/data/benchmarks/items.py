"""A benchmark item as the loaders read it from a benchmark's own files, and the checks every
loader applies to it: a usable multiple-choice item, of a type the run asks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dataengine.core.qtypes import QTYPES
from dataengine.data.benchmark import choice_problems
from dataengine.data.sources import SourceCheck


@dataclass(frozen=True)
class SourceItem:
    """One item as read from a benchmark's files, before its image is staged."""

    id: str
    qtype: int
    question: str
    options: list[str]
    answer: str  # the correct option's letter
    image: Path | bytes  # a file to stage, or the bytes of an image file (MMBench's base64 column)
    image_name: str  # file name under images/; items may share one
    where: str  # the file and row it was read from, with the benchmark's own id, for errors
    group: int | None = None  # CircularEval group (MMBench): scored together, split together
    category: str | None = None  # the benchmark's own taxonomy (MMBench's category and l2-category)
    l2_category: str | None = None


def keep_item(item: SourceItem, items: list[SourceItem], check: SourceCheck) -> None:
    """Append `item` when it is a usable multiple-choice item (the rules items.parquet is held to),
    else record why not."""
    problems = choice_problems(item.question, item.options, item.answer)
    for problem in problems:
        check.bad(item.where, problem)
    if not problems:
        items.append(item)


def kept_qtype(value, cfg: dict, qtypes: list[int], check: SourceCheck, where: str) -> int | None:
    """A source type (id or name) as one of our qtype ids via `benchmark.qtype_map` (absent: the value
    itself must be an id), or None when the item is left out: the map sends it to null, the id is not
    a known type, or the type is not in `qtypes` (each counted), or the row is bad (recorded)."""
    qtype_map = cfg.get("qtype_map") or {}
    if qtype_map:
        if str(value) not in qtype_map:
            check.bad(where, f"type {value!r} is not in benchmark.qtype_map ({sorted(qtype_map)})")
            return None
        value = qtype_map[str(value)]
        if value is None:
            check.drop("of a type benchmark.qtype_map maps to null")
            return None
    try:
        qtype = int(value)
    except (TypeError, ValueError):
        check.bad(where, f"type {value!r} is not a qtype id; map it with benchmark.qtype_map")
        return None
    if qtype not in QTYPES:
        check.drop(f"of an unknown type id (known: {min(QTYPES)}-{max(QTYPES)})")
        return None
    if qtype not in qtypes:
        check.drop(f"of a type outside qtypes {sorted(qtypes)}")
        return None
    return qtype
