"""MMBench TSV: index, question, hint, A..D, answer, category, l2-category, image (base64).

CircularEval: the rotations of one question share `index % 1_000_000`, kept as the item's `group`
so that evaluation can count a question right only when all its rotations are. A circular copy
may carry the base item's index instead of the image itself (VLMEvalKit's files do), which is
resolved here. Options may be 2-4; the hint, when there is one, precedes the question as in
LLaVA's MMBench evaluation. `benchmark.qtype_map` maps `category` (or `benchmark.qtype_field`)
onto qtype ids.
"""

import base64
import binascii
import csv
import io
import sys
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from dataengine.benchmarks import SourceItem, mapped_qtype, require
from dataengine.formats import LETTERS

CIRCULAR = 1_000_000
FIELDS = ("index", "question", "answer", "image", *LETTERS[:2])


def _blank(value: str | None) -> bool:
    return value is None or value.strip() in ("", "nan", "NaN", "None")


def read(cfg: dict, qtypes: list[int]) -> list[SourceItem]:
    require(cfg, "mmbench", "path", "qtype_map")
    path = Path(cfg["path"])
    field = cfg.get("qtype_field", "category")
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # base64 images are long fields
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [key for key in (*FIELDS, field) if key not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        rows = list(reader)
    images = {}
    for line, row in enumerate(rows, start=2):
        if not _blank(row["image"]) and not row["image"].strip().isdigit():
            images[row["index"].strip()] = (line, row["image"])
    items = []
    for line, row in enumerate(rows, start=2):
        where = f"{path}: line {line} (index {row['index']!r})"
        try:
            index = int(row["index"])
        except ValueError:
            raise ValueError(f"{where}: index is not an integer") from None
        qtype = mapped_qtype(row[field], cfg["qtype_map"], where)
        if qtype not in qtypes:
            continue
        options = []
        for letter in LETTERS:
            if _blank(row.get(letter)):
                break
            options.append(row[letter].strip())
        if any(not _blank(row.get(letter)) for letter in LETTERS[len(options) :]):
            raise ValueError(f"{where}: options must be consecutive from A")
        answer = (row["answer"] or "").strip()
        if len(options) < 2 or answer not in LETTERS[: len(options)]:
            raise ValueError(f"{where}: answer {answer!r} is not among the {len(options)} options")
        source = row["image"].strip() if not _blank(row["image"]) else ""
        owner = source if source.isdigit() else str(index)
        if owner not in images:
            raise ValueError(f"{where}: no image (the image column is empty or names index {owner} without one)")
        image, suffix = _decode(images[owner][1], f"{path}: line {images[owner][0]}")
        hint = "" if _blank(row.get("hint")) else row["hint"].strip()
        items.append(
            SourceItem(
                id=f"mmb-{index}",
                qtype=qtype,
                question=f"{hint}\n{row['question'].strip()}" if hint else row["question"].strip(),
                options=options,
                answer=answer,
                image=image,
                image_name=f"mmb-{int(owner) % CIRCULAR}.{suffix}",
                group=index % CIRCULAR,
            )
        )
    return items


def _decode(text: str, where: str) -> tuple[bytes, str]:
    """The image bytes of a base64 field and the file suffix of their format."""
    try:
        data = base64.b64decode(text, validate=True)
        with Image.open(io.BytesIO(data)) as image:
            return data, image.format.lower()
    except (binascii.Error, UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{where}: image is not a base64-encoded picture ({error})") from None
