"""A prompt folder to start from for types of one's own (`dataengine prompt init`): the shipped system,
user and example prompts, and a types.yaml with, per type, a definition for the user to write and
example questions of the type from the benchmark's dev split (never its test split, which the loop
must not learn from). The user edits the definitions, then refines them with prompt optimisation.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import yaml

from dataengine.core.formats import LETTERS
from dataengine.core.qtypes import TypeTable
from dataengine.teacher.llm.prompts import PROMPT_FILES
from dataengine.teacher.llm.settings import REPO

SHIPPED = REPO / "config" / "prompts"
EXAMPLES_PER_TYPE = 3


def write_starting_prompts(items: pl.DataFrame, types: TypeTable, chosen: list[int], out: Path) -> dict[str, int]:
    """Write the folder `out` (which must not exist) for the types `chosen`; the examples found per type."""
    if out.exists():
        raise ValueError(f"{out} exists: prompt init writes a new folder, it never overwrites one")
    entries, found = {}, {}
    for qtype in chosen:
        name = types.name(qtype)
        rows = items.filter((pl.col("qtype") == qtype) & (pl.col("split") == "dev")).sort("id")
        examples = [_example(row) for row in rows.head(EXAMPLES_PER_TYPE).iter_rows(named=True)]
        found[name] = len(examples)
        entries[name] = {
            "definition": f"What a question of {name!r} asks about the image. (Write it: the teacher reads it.)",
            "examples": examples,
        }
    out.mkdir(parents=True)
    for file in PROMPT_FILES:
        if file != "types.yaml":
            shutil.copyfile(SHIPPED / file, out / file)
    header = "# One entry per type the teacher writes for (docs/teacher.md); a type left out is measured only.\n"
    body = yaml.safe_dump(entries, allow_unicode=True, sort_keys=False, width=100)
    (out / "types.yaml").write_text(header + body, encoding="utf-8")
    return found


def _example(row: dict) -> str:
    options = "; ".join(f"{letter}. {text}" for letter, text in zip(LETTERS, row["options"]))
    return f"{row['question']} ({options})"
