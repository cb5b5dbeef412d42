"""MMBench TSV: index, question, hint, A..D, answer, category, l2-category, image (base64).

CircularEval: the rotations of one question share `index % 1_000_000`, kept as the item's `group`
so that evaluation can count a question right only when all its rotations are. A circular copy
may carry the base item's index instead of the image itself (VLMEvalKit's files do), which is
resolved here. A question whose base copy (index < 1,000,000) is not in the file is kept and scored
over the rotations present (VLMEvalKit drops it); the log counts such questions. Options may be 2-4;
the hint, when there is one, precedes the question as in LLaVA's MMBench evaluation.
`benchmark.qtype_map` maps `category` (or `benchmark.qtype_field`) onto qtype ids; `category` and
`l2-category` (`L2-category` in the Hugging Face copies, lmms-lab/MMBench) are also kept as they are
(items' `category`, `l2_category`), for the benchmark's own per-category report.
"""

import base64
import binascii
import csv
import io
import logging
import sys
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from dataengine.core.formats import LETTERS
from dataengine.data.benchmarks.items import SourceItem, keep_item, kept_qtype
from dataengine.data.sources import SourceCheck, SourceError, require_keys

log = logging.getLogger("dataengine")

SOURCE_KEYS = ("path",)
CIRCULAR = 1_000_000
FIELDS = ("index", "question", "answer", "image", *LETTERS[:2])


def _blank(value: str | None) -> bool:
    return value is None or value.strip() in ("", "nan", "NaN", "None")


def read(cfg: dict, qtypes: list[int], check: SourceCheck) -> list[SourceItem]:
    require_keys(cfg, "benchmark", "mmbench", "path", "qtype_map")
    path = Path(cfg["path"])
    field = cfg.get("qtype_field", "category")
    rows = _rows(path, field)
    images = {
        row["index"].strip(): (line, row["image"])
        for line, row in rows
        if not _blank(row["image"]) and not row["image"].strip().isdigit()
    }
    decoded: dict[str, tuple[bytes, str] | None] = {}
    items, indexes, bases = [], set(), set()  # bases: the groups whose base copy is kept
    for line, row in rows:
        where = f"{path}: line {line} (index {row['index']!r})"
        if None in row or None in row.values():
            check.bad(where, "the row's fields do not match the header's columns (a tab inside a field?)")
            continue
        try:
            index = int(row["index"])
        except ValueError:
            check.bad(where, "index is not an integer")
            continue
        if not check.unique(index, indexes, where):
            continue
        qtype = kept_qtype(row[field], cfg, qtypes, check, where)
        if qtype is None:
            continue
        options = []
        for letter in LETTERS:
            if _blank(row.get(letter)):
                break
            options.append(row[letter].strip())
        if any(not _blank(row.get(letter)) for letter in LETTERS[len(options) :]):
            check.bad(where, "options must be consecutive from A")
            continue
        source = row["image"].strip() if not _blank(row["image"]) else ""
        owner = source if source.isdigit() else str(index)
        if owner not in images:
            check.bad(where, f"no image (the image column is empty or names index {owner} without one)")
            continue
        if owner not in decoded:
            decoded[owner] = _decode(owner, *images[owner], path, check)
        if decoded[owner] is None:
            continue  # the row holding the image is reported
        image, suffix = decoded[owner]
        hint = _text(row.get("hint")) or ""
        if index < CIRCULAR:
            bases.add(index)
        keep_item(
            SourceItem(
                id=f"mmb-{index}",
                qtype=qtype,
                question=f"{hint}\n{row['question'].strip()}" if hint else row["question"].strip(),
                options=options,
                answer=(row["answer"] or "").strip(),
                image=image,
                image_name=f"mmb-{int(owner) % CIRCULAR}.{suffix}",
                where=where,
                group=index % CIRCULAR,
                category=_text(row.get("category")),
                l2_category=_text(row.get("l2-category", row.get("L2-category"))),
            ),
            items,
            check,
        )
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


def _text(value: str | None) -> str | None:
    return None if _blank(value) else value.strip()


def _rows(path: Path, field: str) -> list[tuple[int, dict]]:
    """(line where the row starts, row) for each row; a quoted field may span lines."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # base64 images are long fields
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [key for key in (*FIELDS, field) if key not in (reader.fieldnames or [])]
        if missing:
            raise SourceError(f"{path}: missing columns {missing} (expected MMBench's TSV with a header row)")
        rows, start = [], reader.line_num + 1
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    return rows


def _decode(index: str, line: int, text: str, path: Path, check: SourceCheck) -> tuple[bytes, str] | None:
    """The image bytes of a base64 field and the file suffix of their format; None (and the row
    recorded as bad) when it is not a picture."""
    try:
        data = base64.b64decode(text, validate=True)
        with Image.open(io.BytesIO(data)) as image:
            return data, image.format.lower()
    except (binascii.Error, UnidentifiedImageError, OSError) as error:
        check.bad(f"{path}: line {line} (index {index!r})", f"image is not a base64-encoded picture ({error})")
        return None
