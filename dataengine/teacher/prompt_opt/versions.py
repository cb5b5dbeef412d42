"""Prompt versions: whole prompt folders saved under <versions>/<version>/, named by the teacher's
content hash (the same text always lands in the same folder), and the diffs between them."""

from __future__ import annotations

import difflib
import shutil
import tempfile
from pathlib import Path

import yaml

from dataengine.teacher.llm.prompts import PROMPT_FILES, load_prompts


class _BlockDumper(yaml.SafeDumper):
    """Multi-line definitions as `|` blocks: readable files, and line-by-line diffs between versions."""

    def represent_str(self, data: str):
        return self.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_BlockDumper.add_representer(str, _BlockDumper.represent_str)


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm="")
    return "\n".join(lines)


def save_version(source: Path, versions: Path, qtype: int | None = None, definition: str | None = None) -> str:
    """Copy a prompt folder to <versions>/<version>/, with type `qtype`'s definition replaced; the
    version is the teacher's content hash, so the same text always lands in the same folder."""
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "prompts"
        staged.mkdir()
        for name in PROMPT_FILES:
            shutil.copyfile(source / name, staged / name)
        if definition is not None:
            types = staged / "types.yaml"
            header = [line for line in types.read_text().splitlines() if line.startswith("#")]
            definitions = {**yaml.safe_load(types.read_text()), qtype: definition.strip()}
            body = yaml.dump(
                dict(sorted(definitions.items())), Dumper=_BlockDumper, allow_unicode=True, width=100, sort_keys=False
            )
            types.write_text("\n".join(header + [body]))
        version = load_prompts(staged).version
        target = versions / version
        if not target.exists():
            versions.mkdir(parents=True, exist_ok=True)
            shutil.copytree(staged, target)
    return version


def version_diff(versions: Path, old: str, new: str) -> str:
    """Unified diff of every prompt file between two saved versions."""
    parts = []
    for name in PROMPT_FILES:
        a, b = (versions / v / name for v in (old, new))
        parts.append(unified_diff(a.read_text(), b.read_text(), f"{old}/{name}", f"{new}/{name}"))
    return "\n".join(p for p in parts if p)
