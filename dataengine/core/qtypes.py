"""The question-type table: SEED-Bench's nine image dimensions, the taxonomy of the paper's data.

This is the one place type ids and names live; everything else refers to types by id.
"""

QTYPES: dict[int, str] = {
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


def qtype_name(qtype: int) -> str:
    """Name of a type id; a clear error for an id outside the table."""
    try:
        return QTYPES[int(qtype)]
    except KeyError:
        raise ValueError(f"unknown question type {qtype!r}; known ids: {sorted(QTYPES)}") from None


def parse_qtype(text: str) -> int:
    """A type given by id ("5") or by name, whole or any unique part of it, in any case ("Counting")."""
    text = str(text).strip()
    if text.isdigit():
        qtype_name(int(text))
        return int(text)
    hits = [qtype for qtype, name in QTYPES.items() if text.lower() in name.lower()]
    if len(hits) != 1:
        known = ", ".join(f"{qtype} {name}" for qtype, name in QTYPES.items())
        what = "matches several types" if hits else "is no type"
        raise ValueError(f"{text!r} {what}; give an id or a name: {known}")
    return hits[0]
