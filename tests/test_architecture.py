"""The library's shape, checked from its source: its imports form no cycle; every module lies in a layer
package and imports only its own layer and those below (docs/architecture.md), never the wiring above
(pipeline, cli) nor the test doubles (tools/); no module grows past 500 lines. Imports are the ones written (also inside functions), not the packages Python
initialises on the way to a module."""

import ast
from pathlib import Path

from dataengine import teacher
from dataengine.core.config import allowed, defaults, runtime_keys, without_runtime
from dataengine.core.tracking import REPORT_TO
from dataengine.data import benchmarks, pools
from dataengine.eval.evaluate import METHODS
from dataengine.model.families import FAMILIES
from dataengine.sampling.embedding import ENCODERS
from dataengine.sampling.plan import STRATEGIES
from dataengine.train.records import VIEWS
from dataengine.train.training import ROUND_KEYS, LoraSettings, TrainConfig
from tests.conftest import REPO

LIBRARY = REPO / "dataengine"
WIRING = {"dataengine.pipeline", "dataengine.cli"}  # the top: one function per rule, the command
# The layers, lowest first: a module imports its own layer's and lower layers' modules only.
LAYERS = ["core", "data", "endpoint", "model", "sampling", "teacher", "train", "eval", "report", "runs"]
MAX_LINES = 500  # a module may pass 400 lines when it stays one idea


def modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the library (a package is its __init__)."""
    found = {}
    for path in sorted(LIBRARY.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The library modules `name` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    return {module for module in found if module in known and module != name}


def graph() -> dict[str, set[str]]:
    files = modules()
    return {name: imported(name, path, set(files)) for name, path in files.items()}


def test_the_library_imports_form_no_cycle():
    edges, state, cycles = graph(), {}, []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for after in sorted(edges[node]):
            if state.get(after) == "open":
                cycles.append(trail[trail.index(after) :] + [after])
            elif after not in state:
                visit(after, [*trail, after])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def layer(module: str) -> int:
    """The module's layer: its package's place in LAYERS (docs/architecture.md)."""
    if module in WIRING:
        return len(LAYERS)
    group = module.split(".")[1] if module.count(".") else ""
    return LAYERS.index(group)


def test_every_module_lies_in_a_layer():
    outside = {name for name in modules() if name.count(".") and name.split(".")[1] not in LAYERS}
    assert outside == WIRING


def test_layers_import_only_layers_below_or_their_own():
    upward = {
        name: sorted(after for after in imports if layer(after) > layer(name))
        for name, imports in graph().items()
        if name != "dataengine"
    }
    assert not {name: found for name, found in upward.items() if found}


def test_the_test_doubles_live_outside_the_library():
    assert not (LIBRARY / "testing").exists()
    assert all("tools" not in imports and "tests" not in imports for imports in graph().values())


def test_no_module_is_over_the_line_bound():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long


def test_the_graph_sees_imports_inside_functions():
    """The pipeline imports its torch stages inside its jobs; the walk must find those edges."""
    assert {"dataengine.eval.evaluate", "dataengine.train.training", "dataengine.sampling.plan"} <= graph()[
        "dataengine.pipeline"
    ]


def test_the_schema_allows_exactly_what_the_code_implements():
    """Each enum of the schema names the code's registry of that thing, no more, no less."""
    assert set(allowed("sampling.strategy")) == set(allowed("experiment.strategies")) == set(STRATEGIES)
    assert set(allowed("student.scoring")) == set(METHODS)
    assert allowed("student.family") == ["auto", *FAMILIES]
    assert set(allowed("teacher.kind")) == set(teacher.TEACHERS)
    assert set(allowed("retrieval.encoder")) == set(ENCODERS)
    assert set(allowed("train.views")) == set(VIEWS)
    assert allowed("train.report_to") == list(REPORT_TO)
    assert set(allowed("benchmark.kind")) == {"synthetic", *benchmarks.loaders()}
    assert set(allowed("pool.kind")) == {"synthetic", *pools.readers()}


def test_code_takes_its_defaults_from_the_schema():
    """The schema is the one source of defaults: TrainConfig's are the train section's, and every
    key of that section is the optimiser's (TrainConfig), the round's or the job's (report_to)."""
    assert runtime_keys("train") == {"report_to"}
    train = without_runtime(defaults("train"), "train")
    config = TrainConfig()
    for key, value in train.items():
        if key == "lora":
            lora = {k: getattr(LoraSettings(), k) for k in value}
            assert {k: list(v) if isinstance(v, tuple) else v for k, v in lora.items()} == value
        elif key not in ROUND_KEYS:
            assert getattr(config, key) == value, key
    assert set(train) == {f for f in TrainConfig.__dataclass_fields__ if f in train} | set(ROUND_KEYS)
