"""The documentation names only what exists: every `make` target, file of this repository and config
knob that README.md and docs/*.md put in backticks. Renaming one without the docs fails here."""

from __future__ import annotations

import re

import pytest
import yaml

from dataengine.core.config import SCHEMA_PATH
from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Top-level folders whose files the docs name by path (results/ is made by runs, not kept).
TRACKED = ("bench", "config", "dataengine", "docs", "envs", "profiles", "rules", "scripts", "tests", "tools")
FILE_SUFFIX = re.compile(r"\.(md|png|json|jsonl|log|tsv|yaml|sqlite|parquet|html|npz)$")


def _mentions(pattern: str) -> list[tuple[str, str]]:
    """(doc, match) for every match of `pattern` in the docs, each once per doc."""
    return sorted({(doc.name, match) for doc in DOCS for match in re.findall(pattern, doc.read_text())})


def _schema_has(schema: dict, dotted: str) -> bool:
    """Whether the config schema defines the knob `a.b.c` (following $ref, allOf/anyOf/oneOf and
    additionalProperties: a map's keys are any names)."""
    defs = schema.get("$defs", {})

    def nodes(node: dict) -> list[dict]:
        if "$ref" in node:
            node = {**defs[node["$ref"].removeprefix("#/$defs/")], **{k: v for k, v in node.items() if k != "$ref"}}
        found = [node]
        for key in ("allOf", "anyOf", "oneOf"):
            for part in node.get(key, []):
                found += nodes(part)
        return found

    level = [schema]
    for part in dotted.split("."):
        level = [
            child
            for node in level
            for n in nodes(node)
            for child in [
                n.get("properties", {}).get(part)
                or (n.get("additionalProperties") if isinstance(n.get("additionalProperties"), dict) else None)
            ]
            if child
        ]
        if not level:
            return False
    return True


def test_every_make_target_the_docs_name_is_in_the_makefile():
    targets = set(re.findall(r"^([a-z][\w-]*):", (REPO / "Makefile").read_text(), re.M))
    named = _mentions(r"`make ([a-z][\w-]+)") + _mentions(r"(?m)^\s*make ([a-z][\w-]+)")
    assert named, "no make target found in the docs: the pattern is stale"
    assert [(doc, target) for doc, target in named if target not in targets] == []


def test_every_repository_file_the_docs_name_exists():
    named = _mentions(rf"`((?:{'|'.join(TRACKED)})/[^`\s<*{{]*)`")
    assert len(named) > 20, "too few paths found in the docs: the pattern is stale"
    missing = []
    for doc, path in named:
        file, _, test = path.partition("::")
        if not (REPO / file).exists() or test and f"def {test}(" not in (REPO / file).read_text():
            missing.append((doc, path))
    assert missing == []


def test_every_config_knob_the_docs_name_is_in_the_schema():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    sections = set(schema["properties"])
    named = [
        (doc, knob)
        for doc, knob in _mentions(r"`([a-z_]+(?:\.[a-z_0-9]+)+)(?::[^`]*)?`")
        if knob.split(".")[0] in sections and not FILE_SUFFIX.search(knob)
    ]
    assert len(named) > 20, "too few knobs found in the docs: the pattern is stale"
    assert [(doc, knob) for doc, knob in named if not _schema_has(schema, knob)] == []


@pytest.mark.parametrize(
    "knob, known", [("sampling.gain.floor", True), ("benchmark.world", True), ("sampling.nonsense", False)]
)
def test_the_schema_lookup_follows_refs_and_refuses_unknown_knobs(knob, known):
    assert _schema_has(yaml.safe_load(SCHEMA_PATH.read_text()), knob) is known


def test_the_readme_is_short_and_every_guide_it_links_exists():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    links = re.findall(r"\]\(((?:docs)/[\w.-]+)\)", readme)
    assert len(links) >= 10 and [link for link in links if not (REPO / link).exists()] == []
    guides = ("gpu", "reproduce", "teacher", "prompt-optimisation", "experiments", "slurm", "architecture", "testing")
    assert [guide for guide in guides if f"docs/{guide}.md" not in links] == []


def test_nothing_in_the_repository_points_outside_it():
    """Every figure the code and docs use lives in the repository: no path into the notes of the
    machines the project was built on."""
    import subprocess

    outside = "shared" + "/"
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    pointing = [
        name
        for name in tracked
        if (REPO / name).is_file()
        and name.endswith((".py", ".md", ".yaml", ".smk"))
        and outside + "notes" in (REPO / name).read_text(encoding="utf-8", errors="ignore")
    ]
    assert pointing == []
