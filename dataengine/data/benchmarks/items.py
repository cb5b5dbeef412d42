"""A benchmark item as the loaders read it from a benchmark's own files, and the checks every
loader applies to it: a usable multiple-choice item, of a type the run asks.

A row's type becomes one of the run's type ids (dataengine.core.qtypes) in one of two ways: as a
SEED-Bench type id (`kept_qtype`, through `benchmark.qtype_map` where the benchmark has other types),
or as the benchmark's own category, matched by name against config `qtypes` (`Categories`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dataengine.core.formats import LETTERS
from dataengine.core.qtypes import SEED_TYPES, TypeTable
from dataengine.data.benchmark import choice_problems
from dataengine.data.sources import SourceCheck, SourceError


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


def kept_qtype(value, cfg: dict, types: TypeTable, check: SourceCheck, where: str) -> int | None:
    """A source type (id or name) as a SEED-Bench type id via `benchmark.qtype_map` (absent: the value
    itself must be an id), or None when the item is left out: the map sends it to null, the id is not
    one of SEED-Bench's, or not one of the run's `types` (each counted), or the row is bad (recorded)."""
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
    if qtype not in SEED_TYPES:
        check.drop(f"of an unknown type id (known: {min(SEED_TYPES)}-{max(SEED_TYPES)})")
        return None
    if qtype not in types:
        check.drop(f"of a type outside qtypes {types.ids}")
        return None
    return qtype


class Categories:
    """The run's types as a benchmark's own categories, matched by name (exactly, as the benchmark
    spells them); every category met is counted, so that a name config `qtypes` gives and no row has
    stops the build with the benchmark's categories listed, the names to write."""

    def __init__(self, types: TypeTable):
        self.ids = {name: qtype for qtype, name in types.names.items()}
        self.met: Counter = Counter()

    def kept(self, value, check: SourceCheck, where: str) -> int | None:
        """The run's type id of a row's category, or None when the row is left out: another category
        (counted) or none (recorded)."""
        name = text(value)
        if name is None:
            check.bad(where, "no category")
            return None
        self.met[name] += 1
        if name not in self.ids:
            check.drop("of a category outside qtypes")
            return None
        return self.ids[name]

    def require_met(self, source: str) -> None:
        """A SourceError when a configured category is in no row of `source`, listing those it has."""
        absent = [name for name in self.ids if name not in self.met]
        if absent:
            found = ", ".join(f"{name!r} ({n})" for name, n in sorted(self.met.items())) or "none"
            raise SourceError(
                f"{source}: qtypes names {absent}, which no row has as its category. Its categories (rows): "
                f"{found}. Set qtypes to the categories the run measures, in the order that numbers them."
            )


def text(value) -> str | None:
    """A field's text, stripped; None when it is null or blank."""
    if value is None or not str(value).strip():
        return None
    return str(value).strip()


def with_hint(hint: str | None, question: str) -> str:
    """The question as shown: a hint, when there is one, on the line before it (LLaVA's MMBench evaluation)."""
    return f"{hint}\n{question}" if hint else question


def lettered_options(row: Mapping, blank: Callable[[object], bool]) -> list[str] | None:
    """The texts of a row's option columns A, B, ... up to the first `blank` one (a column the row
    lacks is blank); None when a later one is not (options must be consecutive from A)."""
    options = []
    for letter in LETTERS:
        if blank(row.get(letter)):
            break
        options.append(str(row[letter]).strip())
    if any(not blank(row.get(letter)) for letter in LETTERS[len(options) :]):
        return None
    return options
