"""MMBench in either of its two forms, chosen by what `benchmark.path` holds:
- the release's TSV: index, question, hint, A..D, answer, category, l2-category, image (base64);
- the Hugging Face copy (lmms-lab/MMBench: a folder of parquet shards, `benchmark.split` picking dev
  or test): the same columns, `L2-category` spelt so, each row's image embedded
  (dataengine.data.benchmarks.shards).
A question reads as the same item from either form.

CircularEval: the rotations of one question share `index % 1_000_000`, kept as the item's `group`
so that evaluation can count a question right only when all its rotations are. A circular copy
may carry the base item's index instead of the image itself (VLMEvalKit's files do), which is
resolved here. A question whose base copy (index < 1,000,000) is not in the file is kept and scored
over the rotations present (VLMEvalKit drops it); the log counts such questions. Options may be 2-4;
the hint, when there is one, precedes the question as in LLaVA's MMBench evaluation.
The types: without `benchmark.qtype_map`, MMBench's own categories (`category`, or the column
`benchmark.qtype_field` names: MMBench's 20 abilities, or its l2-categories) as named in config `qtypes`;
with it, the map sends each category onto a SEED-Bench type id. `category` and `l2-category`
(`L2-category` in the Hugging Face copies, lmms-lab/MMBench) are also kept as they are (items'
`category`, `l2_category`), for the benchmark's own per-category report.
"""

import base64
import binascii
import logging
from collections.abc import Callable
from pathlib import Path

import polars as pl

from dataengine.core.qtypes import TypeTable, own_categories
from dataengine.data.benchmarks import shards
from dataengine.data.benchmarks.delimited import delimited_rows, ragged
from dataengine.data.benchmarks.items import (
    Categories,
    SourceItem,
    keep_item,
    kept_qtype,
    lettered_options,
    with_hint,
)
from dataengine.data.sources import SourceCheck, require_keys

log = logging.getLogger("dataengine")

SOURCE_KEYS = ("path",)
CIRCULAR = 1_000_000
OPTIONS = "ABCD"  # MMBench's option columns; C and D are blank for a question of two or three
FIELDS = ("index", "question", "answer", "image", *OPTIONS[:2])

# A row's type as one of the run's type ids: (value, where) -> the id, or None (left out, or recorded as bad).
TypeOf = Callable[[object, str], int | None]


def _blank(value: str | None) -> bool:
    return value is None or value.strip() in ("", "nan", "NaN", "None")


def read(cfg: dict, types: TypeTable, check: SourceCheck, scratch: Path) -> list[SourceItem]:
    require_keys(cfg, "benchmark", "mmbench", "path")
    path = Path(cfg["path"])
    field = cfg.get("qtype_field", "category")
    categories = Categories(types) if own_categories(cfg) else None

    def type_of(value, where: str) -> int | None:
        if categories is not None:
            return categories.kept(value, check, where)
        return kept_qtype(value, cfg, types, check, where)

    if shards.holds_shards(path):
        items = _read_shards(path, cfg, field, type_of, check, scratch)
    else:
        items = _read_tsv(path, field, type_of, check)
    if categories is not None:
        categories.require_met(str(path))
    bases = {item.group for item in items if item.id == f"mmb-{item.group}"}  # index < CIRCULAR
    without_base = {item.group for item in items} - bases
    if without_base:
        log.warning(
            "benchmark mmbench: %d questions have no base copy (index < %d) in %s; they are scored over "
            "the rotations present (VLMEvalKit drops them): groups %s",
            len(without_base),
            CIRCULAR,
            path,
            sorted(without_base)[:10],
        )
    return items


def _read_tsv(path: Path, field: str, type_of: TypeOf, check: SourceCheck) -> list[SourceItem]:
    rows = list(delimited_rows(path, "\t", (*FIELDS, field), "MMBench's TSV with a header row"))
    images = {
        row["index"].strip(): (line, row["image"])
        for line, row in rows
        if not _blank(row["image"]) and not row["image"].strip().isdigit()
    }
    decoded: dict[str, tuple[bytes, str] | None] = {}
    items, indexes = [], set()
    for line, row in rows:
        where = f"{path}: line {line} (index {row['index']!r})"
        if ragged(row):
            check.bad(where, "the row's fields do not match the header's columns (a tab inside a field?)")
            continue
        question = _question(row, where, field, type_of, check, indexes)
        if question is None:
            continue
        source = row["image"].strip() if not _blank(row["image"]) else ""
        owner = source if source.isdigit() else str(question["index"])
        if owner not in images:
            check.bad(where, f"no image (the image column is empty or names index {owner} without one)")
            continue
        if owner not in decoded:
            decoded[owner] = _decode(owner, *images[owner], path, check)
        if decoded[owner] is None:
            continue  # the row holding the image is reported
        image, suffix = decoded[owner]
        keep_item(_item(question, image, f"mmb-{int(owner) % CIRCULAR}.{suffix}", where), items, check)
    return items


def _read_shards(
    path: Path, cfg: dict, field: str, type_of: TypeOf, check: SourceCheck, scratch: Path
) -> list[SourceItem]:
    """The Hugging Face copy (lmms-lab/MMBench): every row embeds its own image."""
    l2 = _l2_column(path, cfg.get("split"))
    read_field = l2 if field.lower() == "l2-category" else field
    columns = tuple(dict.fromkeys((*FIELDS, *OPTIONS[2:], "hint", "category", l2, read_field)))
    items, indexes = [], set()
    for where, row in shards.rows(path, cfg.get("split"), columns, "index"):
        text = {key: None if value is None else str(value) for key, value in row.items() if key != "image"}
        question = _question(text | {"l2-category": text[l2]}, where, field, type_of, check, indexes)
        if question is None:
            continue
        picture = shards.embedded_picture(row["image"])
        if picture is None:
            check.bad(where, shards.NO_PICTURE)
            continue
        name = f"mmb-{question['index'] % CIRCULAR}.{picture[1]}"
        keep_item(_item(question, shards.write_once(picture[0], scratch / name), name, where), items, check)
    return items


def _l2_column(path: Path, split: str | None) -> str:
    """The copy's name for the l2-category column: lmms-lab/MMBench says L2-category, MMBench_EN l2-category."""
    schema = pl.read_parquet_schema(shards.shard_files(path, split)[0])
    return "L2-category" if "L2-category" in schema else "l2-category"


def _question(row: dict, where: str, field: str, type_of: TypeOf, check: SourceCheck, indexes: set) -> dict | None:
    """A row's question as the item needs it (index, qtype, options, question with its hint, answer,
    categories), both forms' rows given as text; None when it is left out or bad (recorded)."""
    try:
        index = int(row["index"])
    except (TypeError, ValueError):
        check.bad(where, "index is not an integer")
        return None
    if not check.unique(index, indexes, where):
        return None
    qtype = type_of(row[field], where)
    if qtype is None:
        return None
    options = lettered_options(row, _blank)
    if options is None:
        check.bad(where, "options must be consecutive from A")
        return None
    return {
        "index": index,
        "qtype": qtype,
        "question": with_hint(_text(row.get("hint")), row["question"].strip()),
        "options": options,
        "answer": (row["answer"] or "").strip(),
        "category": _text(row.get("category")),
        "l2_category": _text(row.get("l2-category", row.get("L2-category"))),
    }


def _item(question: dict, image: Path | bytes, image_name: str, where: str) -> SourceItem:
    return SourceItem(
        id=f"mmb-{question['index']}",
        qtype=question["qtype"],
        question=question["question"],
        options=question["options"],
        answer=question["answer"],
        image=image,
        image_name=image_name,
        where=where,
        group=question["index"] % CIRCULAR,
        category=question["category"],
        l2_category=question["l2_category"],
    )


def _text(value: str | None) -> str | None:
    return None if _blank(value) else value.strip()


def _decode(index: str, line: int, text: str, path: Path, check: SourceCheck) -> tuple[bytes, str] | None:
    """The image bytes of a base64 field and the file suffix of their format; None (and the row
    recorded as bad) when it is not a picture."""
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error as error:
        check.bad(f"{path}: line {line} (index {index!r})", f"image is not a base64-encoded picture ({error})")
        return None
    suffix = shards.picture_format(data)
    if suffix is None:
        check.bad(f"{path}: line {line} (index {index!r})", "image is not a base64-encoded picture")
        return None
    return data, suffix
