"""The conda envs (`--sdm conda`), checked offline: valid and pinned YAML, one env for every rule, each
env holding every package its rules' code imports, and Snakemake's `--containerize` reading them all
(conda itself cannot be installed here, so a stub answers Snakemake's version checks)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, snakemake

ENVS = REPO / "envs"
# Import names whose package is called otherwise (conda-forge names).
PACKAGE_OF = {"PIL": "pillow", "yaml": "pyyaml", "torch": "pytorch"}
PINNED = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+) ?(?:=\d+(?:\.\d+)*|==\d+(?:\.\d+)*(?:\.\*)?)$")


def env_packages(env: dict) -> dict[str, str]:
    """Package name -> the dependency line, for conda and pip dependencies alike."""
    lines = []
    for dep in env["dependencies"]:
        lines += dep["pip"] if isinstance(dep, dict) else [dep]
    return {re.split(r"[ =<>!]", line, maxsplit=1)[0].lower(): line for line in lines}


def rules() -> dict[str, dict]:
    """Rule name -> {script, conda} as written in Snakefile and rules/*.smk."""
    found = {}
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        for block in re.split(r"^(?=rule )", path.read_text(), flags=re.M)[1:]:
            name = re.match(r"rule (\w+):", block)[1]
            found[name] = {
                key: (REPO / "rules" / m[1]).resolve()
                if (m := re.search(rf"^    {key}:\n\s+\"([^\"]+)\"", block, re.M))
                else None
                for key in ("script", "conda")
            }
    return found


def imported_packages(path: Path, function: str | None = None, seen: set[Path] | None = None) -> set[str]:
    """Third-party top-level packages a module imports when loaded (module-level imports, followed
    through dataengine's own modules), plus the imports inside `function` (pipeline's lazy ones)."""
    seen = seen if seen is not None else set()
    seen.add(path)
    tree = ast.parse(path.read_text())
    nodes = [n for stmt in tree.body if not isinstance(stmt, ast.FunctionDef | ast.ClassDef) for n in ast.walk(stmt)]
    nodes += [
        n for stmt in tree.body if isinstance(stmt, ast.FunctionDef) and stmt.name == function for n in ast.walk(stmt)
    ]
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    packages = set()
    for name in names:
        top = name.split(".")[0]
        module = REPO / Path(*name.split(".")).with_suffix(".py")
        if top == "dataengine":
            if module.is_file() and module not in seen:
                packages |= imported_packages(module, seen=seen)
        elif top not in sys.stdlib_module_names and top != "__future__":
            packages.add(PACKAGE_OF.get(top, top).lower())
    return packages


def test_every_env_is_valid_yaml_with_pinned_dependencies():
    envs = sorted(ENVS.glob("*.yaml"))
    assert envs
    for path in envs:
        env = yaml.safe_load(path.read_text())
        assert set(env) == {"channels", "dependencies"}, path.name
        assert "conda-forge" in env["channels"] and "defaults" not in env["channels"], path.name
        for name, line in env_packages(env).items():
            if name != "pip":  # the pip that installs the pip: section
                assert PINNED.match(line), f"{path.name}: {line!r} is not pinned (name =X.Y or name ==X.Y.*)"
        assert env_packages(env)["python"] == "python =3.11", path.name


def test_every_rule_that_runs_code_names_an_existing_env():
    found = rules()
    assert {"build_benchmark", "evaluate", "train", "report"} <= set(found)
    for name, rule in found.items():
        if rule["script"] is None:  # `all` only collects targets
            assert name == "all"
            continue
        assert rule["script"].is_file(), name
        assert rule["conda"] is not None and rule["conda"].is_file(), f"rule {name}: conda env {rule['conda']}"
    used = {rule["conda"] for rule in found.values() if rule["conda"]}
    assert used == {p.resolve() for p in ENVS.glob("*.yaml")}, "an env that no rule uses"


def test_every_env_has_what_its_rules_import():
    for name, rule in rules().items():
        if rule["script"] is None:
            continue
        called = re.findall(r"pipeline\.(\w+)\(", rule["script"].read_text())
        needed = imported_packages(rule["script"])
        for function in called:
            needed |= imported_packages(REPO / "dataengine" / "pipeline.py", function)
        have = set(env_packages(yaml.safe_load(rule["conda"].read_text())))
        assert needed <= have, f"rule {name}: {rule['conda'].name} lacks {sorted(needed - have)}"


def test_the_import_scan_sees_lazy_imports():
    assert {"pytorch", "transformers"} <= imported_packages(REPO / "dataengine" / "pipeline.py", "evaluate")
    assert "pytorch" not in imported_packages(REPO / "dataengine" / "pipeline.py", "plan")


STUB_CONDA = """#!/bin/sh
case "$1" in
  --version) echo "conda 24.7.1" ;;
  info) echo '{"conda_prefix": "/opt/conda", "root_prefix": "/opt/conda", "envs_dirs": ["/opt/conda/envs"],'\
    '"platform": "linux-64", "conda_version": "24.7.1"}' ;;
  config) echo '{"get": {"channel_priority": "strict"}}' ;;
  *) echo "stub conda cannot $*" >&2; exit 1 ;;
esac
"""


@pytest.mark.slow
def test_containerize_builds_every_env(workdir, tmp_path, monkeypatch):
    stub = tmp_path / "bin" / "conda"
    stub.parent.mkdir()
    stub.write_text(STUB_CONDA)
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{stub.parent}:{Path(sys.executable).parent}:/usr/bin:/bin")
    result = snakemake(workdir, "--containerize")
    assert result.returncode == 0, result.stderr[-3000:]
    sources = re.findall(r"^#   source: (.+)$", result.stdout, re.M)
    assert sorted(Path(s).name for s in sources) == sorted(p.name for p in ENVS.glob("*.yaml"))
    assert result.stdout.count("conda env create --prefix") == len(sources)
