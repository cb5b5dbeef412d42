"""A run's question types: the categories its benchmark declares, each an id and a name.

Files refer to a type by its id (items.parquet's `qtype`, the plan's quotas, the metrics); the names
come from the run's config through `run_types`, the one place ids and names are tied:

- SEED-Bench's nine image dimensions (`SEED_TYPES`) are the types of the synthetic world and of the
  benchmarks read as SEED's (seedbench; mmbench and aokvqa through a `qtype_map`); config `qtypes`
  lists their ids or names.
- A benchmark read with its own categories (generic, mmbench without a `qtype_map`) has the types
  config `qtypes` names, in that order: the first is id 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SEED_TYPES: dict[int, str] = {
    1: "Scene Understanding",
    2: "Instance Identity",
    3: "Instance Attributes",
    4: "Instance Location",
    5: "Instances Counting",
    6: "Spatial Relation",
    7: "Instance Interaction",
    8: "Visual Reasoning",
    9: "Text Understanding",
}


@dataclass(frozen=True)
class TypeTable:
    """Type ids and their names, in the run's order."""

    names: Mapping[int, str]

    @property
    def ids(self) -> list[int]:
        return list(self.names)

    def __contains__(self, qtype: object) -> bool:
        try:
            return int(qtype) in self.names
        except (TypeError, ValueError):
            return False

    def name(self, qtype: int | str) -> str:
        """Name of a type id; a clear error for an id outside the table."""
        if qtype not in self:
            raise ValueError(f"unknown question type {qtype!r}; known: {self.listing()}")
        return self.names[int(qtype)]

    def parse(self, text: int | str) -> int:
        """A type given by id ("5") or by name, whole or any unique part of it, in any case ("Counting")."""
        text = str(text).strip()
        if text.isdigit() and int(text) in self.names:
            return int(text)
        exact = [qtype for qtype, name in self.names.items() if text.lower() == name.lower()]
        hits = exact or [qtype for qtype, name in self.names.items() if text.lower() in name.lower()]
        if len(hits) != 1:
            what = f"{text!r} matches several types" if hits else f"{text!r} is no type"
            if not hits and text.isdigit():
                what = f"unknown question type {text}"
            raise ValueError(f"{what}; give an id or a name: {self.listing()}")
        return hits[0]

    def listing(self) -> str:
        return ", ".join(f"{qtype} {name}" for qtype, name in self.names.items())


SEED_TABLE = TypeTable(SEED_TYPES)


def own_categories(benchmark: Mapping) -> bool:
    """Whether a benchmark config is read with its own categories as types (else as SEED-Bench's)."""
    return benchmark["kind"] == "generic" or (benchmark["kind"] == "mmbench" and not benchmark.get("qtype_map"))


def run_types(config: Mapping) -> TypeTable:
    """The types a run measures, from its resolved config: `qtypes` as SEED ids, or the benchmark's
    own categories by name."""
    if own_categories(config["benchmark"]):
        return TypeTable({i: str(name) for i, name in enumerate(config["qtypes"], start=1)})
    return TypeTable({int(qtype): SEED_TYPES[int(qtype)] for qtype in config["qtypes"]})


def known_types(config: Mapping) -> TypeTable:
    """Every type a config or a prompt file may name: SEED-Bench's nine for a benchmark read as SEED's
    (the run measures some of them), else the run's own categories."""
    return run_types(config) if own_categories(config["benchmark"]) else SEED_TABLE
