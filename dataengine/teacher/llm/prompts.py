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
from dataengine.core.qtypes import SEED_TABLE, TypeTable

# The files a prompt folder must hold; rules/common.smk declares them as inputs of `generate`.
PROMPT_FILES = ("system.md", "user.md", "example.md", "types.yaml")
# Annotation keys shown to the teacher: what the image holds, not our bookkeeping (ids, hashes, qtypes).
ANNOTATION_KEYS = ("captions", "objects", "background", "text")


@dataclass(frozen=True)
class Prompts:
    system: str
    user: str
    example: str
    definitions: dict[int, str]  # type id -> the definition the user prompt quotes
    names: dict[int, str]  # type id -> its name, for each defined type
    version: str


def load_prompts(folder: str | Path, types: TypeTable = SEED_TABLE) -> Prompts:
    """Read and check a prompt folder; the version is a hash of the file names and contents.

    types.yaml maps each type the teacher writes for, by id or name among `types` (the run's
    `known_types`), to its definition: a text, or {definition, examples} where examples are questions
    of the type, quoted after the definition."""
    folder = Path(folder)
    texts = {name: _read(folder / name) for name in PROMPT_FILES}
    definitions = _definitions(folder / "types.yaml", texts["types.yaml"], types)
    digest = hashlib.sha256()
    for name in PROMPT_FILES:
        digest.update(f"{name}\0{texts[name]}\0".encode())
    return Prompts(
        system=texts["system.md"].strip(),
        user=texts["user.md"].strip(),
        example=texts["example.md"].strip(),
        definitions=definitions,
        names={qtype: types.name(qtype) for qtype in definitions},
        version=f"p-{digest.hexdigest()[:12]}",
    )


def defined_types(folder: str | Path, types: TypeTable) -> list[int]:
    """The ids of the types a prompt folder's types.yaml defines."""
    path = Path(folder) / "types.yaml"
    return list(_definitions(path, _read(path), types))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"prompt file {path}: cannot read ({err.strerror or err})") from None


def _definitions(path: Path, text: str, types: TypeTable) -> dict[int, str]:
    try:
        entries = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"prompt file {path}: invalid YAML ({err})") from None
    if not isinstance(entries, dict):
        raise ValueError(f"prompt file {path}: must map types (id or name: {types.listing()}) to definitions")
    definitions = {}
    for key, entry in entries.items():
        try:
            qtype = types.parse(key)
        except ValueError as err:
            raise ValueError(f"prompt file {path}: type {err}") from None
        definitions[qtype] = _definition(path, key, entry)
    return definitions


def _definition(path: Path, key, entry) -> str:
    """A type's definition text, its example questions (if any) listed after it."""
    if isinstance(entry, str):
        return entry.strip()
    if not isinstance(entry, dict) or not isinstance(entry.get("definition"), str):
        raise ValueError(f"prompt file {path}: {key}: give a text, or a mapping with a `definition` text")
    examples = entry.get("examples") or []
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise ValueError(f"prompt file {path}: {key}.examples: must be a list of questions (texts)")
    lines = [entry["definition"].strip()]
    if examples:
        lines += ["Questions of this type look like:", *(f"- {e.strip()}" for e in examples)]
    return "\n".join(lines)


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
        type_name=prompts.names[qtype],
        type_definition=prompts.definitions[qtype],
        examples="\n\n".join(examples) or "(no examples for this type)",
        annotation=json.dumps(prompt_annotation(query["annotation"]), sort_keys=True),
    )
    return [{"role": "system", "content": prompts.system}, {"role": "user", "content": user}]
