"""The teacher's prompts: files under config/prompts/, versioned by their content.

The files are inputs of the generation rule, so editing one reruns generation and what follows; the
version (a hash of the files) goes into every sample's provenance, and the rendered messages are part
of the response cache key, so an edited prompt never reuses a reply written for the old one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from dataengine.core.formats import LETTERS
from dataengine.core.qtypes import QTYPES, qtype_name

# The files a prompt folder must hold; rules/common.smk declares them as inputs of `generate`.
PROMPT_FILES = ("system.md", "user.md", "example.md", "types.yaml")
# Annotation keys shown to the teacher: what the image holds, not our bookkeeping (ids, hashes, qtypes).
ANNOTATION_KEYS = ("captions", "objects", "background", "text")


@dataclass(frozen=True)
class Prompts:
    system: str
    user: str
    example: str
    definitions: dict[int, str]
    version: str


def load_prompts(folder: str | Path) -> Prompts:
    """Read and check a prompt folder; the version is a hash of the file names and contents."""
    folder = Path(folder)
    texts = {}
    for name in PROMPT_FILES:
        path = folder / name
        try:
            texts[name] = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ValueError(f"prompt file {path}: cannot read ({err.strerror or err})") from None
    try:
        definitions = yaml.safe_load(texts["types.yaml"]) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"prompt file {folder / 'types.yaml'}: invalid YAML ({err})") from None
    if not isinstance(definitions, dict) or not all(int(k) in QTYPES for k in definitions):
        raise ValueError(f"prompt file {folder / 'types.yaml'}: must map type ids {sorted(QTYPES)} to definitions")
    digest = hashlib.sha256()
    for name in PROMPT_FILES:
        digest.update(f"{name}\0{texts[name]}\0".encode())
    return Prompts(
        system=texts["system.md"].strip(),
        user=texts["user.md"].strip(),
        example=texts["example.md"].strip(),
        definitions={int(k): str(v).strip() for k, v in definitions.items()},
        version=f"p-{digest.hexdigest()[:12]}",
    )


def prompt_annotation(annotation: dict) -> dict:
    """The annotation as the teacher sees it: image content only, unknown (null) fields left out."""
    shown = {k: annotation.get(k) for k in ANNOTATION_KEYS if annotation.get(k) is not None}
    shown["objects"] = [{k: v for k, v in obj.items() if v is not None} for obj in annotation.get("objects") or []]
    return shown


def render_messages(prompts: Prompts, query: dict) -> list[dict]:
    """Chat messages for one query: the system rules, then the type, bad cases and annotation."""
    qtype = int(query["qtype"])
    if qtype not in prompts.definitions:
        raise ValueError(f"query {query.get('query_id')}: type {qtype} has no definition in the prompt's types.yaml")
    examples = [
        prompts.example.format(
            n=n,
            question=case["question"],
            options="; ".join(f"{letter}. {text}" for letter, text in zip(LETTERS, case["options"])),
            answer=case["answer"],
        )
        for n, case in enumerate(query.get("in_context") or [], start=1)
    ]
    user = prompts.user.format(
        qtype=qtype,
        type_name=qtype_name(qtype),
        type_definition=prompts.definitions[qtype],
        examples="\n\n".join(examples) or "(no examples for this type)",
        annotation=json.dumps(prompt_annotation(query["annotation"]), sort_keys=True),
    )
    return [{"role": "system", "content": prompts.system}, {"role": "user", "content": user}]
