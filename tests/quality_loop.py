"""A small seeded loop, run in-process through the pipeline's stage functions (dataengine.pipeline):
benchmark, pool and embeddings; a seed's seed set, base model and evaluation; then one round per
sampling strategy from that base: plan -> generate -> validate -> train with replay -> evaluate.
Snakemake would only add scheduling and a process per job, most of the time of a loop this small.

The world (WORLD) is the smallest found where targeting shows, measured with bench/quality_guard.py:
- types 1 (scene), 3 (colour of an object) and 8 (colour of the largest one): the tiny student
  learns 3 and 8 from a few dozen samples once the caption stage has taught it colours, and 1 from
  a handful; the other types stay near chance after a round this short, and a type that cannot
  learn takes budget from the test of targeting (docs/targeting.md);
- a seed set of 300 scenes and 10 of each colour type: type 1 starts at 100 %, 3 and 8 near 30 %;
  the targeted round gives them the whole budget, the uniform one two thirds;
- a smaller student (vision 48, text 64 wide): the caption stage, most of the time, runs ~5x faster;
- a budget of 60 and 100 steps: more data saturates both arms (measured: 150 samples and 200 steps
  brought the weak types to ~80 % either way); replay of 60 seed samples;
- 1000 test items per type: the arms differ by a few points, and 300 per type left a test-sampling
  spread of ~3 points on their difference.
"""

from __future__ import annotations

from pathlib import Path

from dataengine import pipeline
from dataengine.core.config import deep_merge, knobs, validate_config
from dataengine.core.jsonl import read_json
from dataengine.core.layout import RunLayout
from dataengine.core.qtypes import SEED_TABLE
from dataengine.report.experiment import weak_types

WORLD = {
    "run": "guard",
    "seed": 0,
    "iterations": 1,
    "threads": 1,
    "qtypes": [1, 3, 8],
    "benchmark": {"image_size": 64, "dev_per_type": 40, "test_per_type": 1000},
    "pool": {"images": 4000},
    "student": {
        "tiny": {
            "arch": {
                "vision_hidden": 48,
                "vision_mlp": 96,
                "vision_layers": 1,
                "vision_heads": 2,
                "text_hidden": 64,
                "text_mlp": 128,
                "text_layers": 2,
                "text_heads": 2,
            },
            "caption": {"steps": 500, "lr": 2.0e-3},
            "seed_set": {"per_type": {1: 300, 3: 10, 8: 10}, "train": {"steps": 200, "lr": 1.0e-3}},
        }
    },
    "sampling": {"budget": 60},
    "train": {"steps": 100, "batch_size": 32, "lr": 1.0e-3, "views": ["free"], "replay": 60},
}


def world_config(overrides: dict | None = None) -> dict:
    return validate_config(deep_merge(WORLD, overrides or {}))


def seed_layout(root: Path, seed: int, arm: str | None = None) -> RunLayout:
    """Where a seed's files are: the world under root, iteration 0 in root/seed_<seed>, an arm's round
    in root/seed_<seed>/<arm> (an experiment's layout)."""
    base = f"{root}/seed_{seed}"
    return RunLayout(arm=f"{base}/{arm}" if arm else base, base=base, shared=str(root))


def build_world(root: Path, config: dict) -> None:
    """Benchmark, pool and pool embeddings under root, shared by every seed and arm."""
    layout = RunLayout.of(root)
    items, pool = Path(layout.benchmark) / "items.parquet", Path(layout.pool) / "annotations.jsonl"
    for folder in (items.parent, pool.parent):
        folder.mkdir(parents=True, exist_ok=True)
    pipeline.build_benchmark(str(items), config["qtypes"], config["benchmark"], config["seed"])
    pipeline.build_pool(
        str(items), str(pool), config["qtypes"], config["pool"], config["benchmark"]["image_size"], config["seed"]
    )
    pipeline.embed_pool(str(pool), f"{layout.pool}/embeddings.npz", config["retrieval"], config["threads"])


def evaluate(layout: RunLayout, i: int, config: dict) -> dict:
    """Evaluate iteration i's model on the benchmark; its metrics."""
    Path(layout.evaluation(i)).mkdir(parents=True, exist_ok=True)
    pipeline.evaluate(
        layout.model(i),
        f"{layout.benchmark}/items.parquet",
        layout.predictions(i),
        layout.metrics(i),
        layout.bad_cases(i),
        config["student"]["scoring"],
        config["evaluate"]["batch_size"],
        config["threads"],
    )
    return read_json(layout.metrics(i))


def build_base(root: Path, config: dict, seed: int) -> RunLayout:
    """A seed's iteration 0 (seed set, base model, evaluation); the seed's layout."""
    layout = seed_layout(root, seed)
    Path(layout.data(0)).mkdir(parents=True, exist_ok=True)
    pool, tiny = f"{layout.pool}/annotations.jsonl", config["student"]["tiny"]
    pipeline.seed_set(
        pool,
        layout.queries(0),
        layout.accepted(0),
        layout.rejected(0),
        layout.generation(0),
        tiny["seed_set"]["per_type"],
        config["qtypes"],
        config["teacher"],
        seed,
    )
    pipeline.base_model(
        pool,
        layout.accepted(0),
        layout.model(0),
        tiny,
        config["benchmark"]["image_size"],
        config["train"]["views"],
        seed,
        config["threads"],
    )
    evaluate(layout, 0, config)
    return layout


def plan(layout: RunLayout, config: dict, strategy: str, seed: int) -> None:
    """Iteration 1's plan from the base's evaluation."""
    Path(layout.plan(1)).mkdir(parents=True, exist_ok=True)
    pipeline.plan(
        layout.metrics(0),
        layout.bad_cases(0),
        f"{layout.pool}/annotations.jsonl",
        f"{layout.benchmark}/items.parquet",
        [layout.queries(0)],
        layout.quotas(1),
        layout.queries(1),
        1,
        {**knobs(config, "sampling", 1), "strategy": strategy},
        seed,
        f"{layout.pool}/embeddings.npz",
        config["retrieval"],
        [],
        [],
    )


def run_round(root: Path, config: dict, seed: int, strategy: str, name: str | None = None) -> RunLayout:
    """One arm's iteration 1 from the seed's base (root/seed_<seed>/<name or strategy>): plan, generate,
    validate, train on the accepted samples plus replay of the seed set, evaluate; the arm's layout."""
    layout = seed_layout(root, seed, name or strategy)
    plan(layout, config, strategy, seed)
    Path(layout.data(1)).mkdir(parents=True, exist_ok=True)
    teacher = knobs(config, "teacher", 1)
    pipeline.generate(layout.queries(1), layout.responses(1), layout.generation(1), teacher, seed)
    pipeline.validate(
        layout.responses(1),
        layout.queries(1),
        layout.accepted(1),
        layout.rejected(1),
        1,
        teacher,
        f"{layout.benchmark}/items.parquet",
        {**config["contamination"], "benchmark_kind": config["benchmark"]["kind"]},
    )
    pipeline.train(
        layout.model(0),
        layout.accepted(1),
        [layout.accepted(0)],
        f"{layout.pool}/images",
        layout.model(1),
        1,
        knobs(config, "train", 1),
        seed,
        config["threads"],
    )
    evaluate(layout, 1, config)
    return layout


def accepted(arm: RunLayout) -> int:
    """How many samples the arm's round accepted (what it trained on, besides replay)."""
    return len(Path(arm.accepted(1)).read_text().splitlines())


def accuracy_by_type(layout: RunLayout, i: int) -> dict[str, float]:
    """Test-split accuracy per type name (percent) of iteration i, as summary.json reports it."""
    per_type = read_json(layout.metrics(i))["splits"]["test"]["per_type"]
    return {SEED_TABLE.name(int(t)): entry["acc"] for t, entry in per_type.items()}


def weak_mean(layout: RunLayout, i: int) -> float:
    """Mean test accuracy of iteration i over the base's weak types (dataengine.report.experiment's rule)."""
    return _mean_over(layout, i, weak_types({"per_type": accuracy_by_type(layout, 0)}))


def other_mean(layout: RunLayout, i: int) -> float:
    """The same over the other types, those the base already answers."""
    weak = weak_types({"per_type": accuracy_by_type(layout, 0)})
    return _mean_over(layout, i, [name for name in accuracy_by_type(layout, 0) if name not in weak])


def _mean_over(layout: RunLayout, i: int, names: list[str]) -> float:
    accuracy = accuracy_by_type(layout, i)
    return sum(accuracy[name] for name in names) / len(names)
