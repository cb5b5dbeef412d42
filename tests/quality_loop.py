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
from dataengine.config import deep_merge, knobs, validate_config
from dataengine.experiment import weak_types
from dataengine.jsonl import read_json
from dataengine.qtypes import qtype_name

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


def build_world(root: Path, config: dict) -> None:
    """Benchmark, pool and pool embeddings under root, shared by every seed and arm."""
    items, pool = root / "benchmark" / "items.parquet", root / "pool" / "annotations.jsonl"
    for folder in (items.parent, pool.parent):
        folder.mkdir(parents=True, exist_ok=True)
    pipeline.build_benchmark(str(items), config["qtypes"], config["benchmark"], config["seed"])
    pipeline.build_pool(
        str(items), str(pool), config["qtypes"], config["pool"], config["benchmark"]["image_size"], config["seed"]
    )
    pipeline.embed_pool(str(pool), str(root / "pool" / "embeddings.npz"), config["retrieval"], config["threads"])


def evaluate(root: Path, iteration: Path, config: dict) -> dict:
    """Evaluate `iteration`/model on the benchmark into `iteration`/eval; its metrics."""
    out = iteration / "eval"
    out.mkdir(parents=True, exist_ok=True)
    pipeline.evaluate(
        str(iteration / "model"),
        str(root / "benchmark" / "items.parquet"),
        str(out / "predictions.parquet"),
        str(out / "metrics.json"),
        str(out / "bad_cases.jsonl"),
        config["student"]["scoring"],
        config["evaluate"]["batch_size"],
        config["threads"],
    )
    return read_json(out / "metrics.json")


def build_base(root: Path, config: dict, seed: int) -> Path:
    """A seed's iteration 0 (seed set, base model, evaluation) in root/seed_<seed>/iter_0."""
    base = root / f"seed_{seed}" / "iter_0"
    data = base / "data"
    data.mkdir(parents=True, exist_ok=True)
    pool, tiny = str(root / "pool" / "annotations.jsonl"), config["student"]["tiny"]
    pipeline.seed_set(
        pool,
        str(data / "queries.jsonl"),
        str(data / "accepted.jsonl"),
        str(data / "rejected.jsonl"),
        str(data / "generation.json"),
        tiny["seed_set"]["per_type"],
        config["qtypes"],
        config["teacher"],
        seed,
    )
    pipeline.base_model(
        pool,
        str(data / "accepted.jsonl"),
        str(base / "model"),
        tiny,
        config["benchmark"]["image_size"],
        config["train"]["views"],
        seed,
        config["threads"],
    )
    evaluate(root, base, config)
    return base


def plan(root: Path, config: dict, base: Path, arm: Path, strategy: str, seed: int) -> Path:
    """Iteration 1's plan from the base's evaluation, in `arm`/iter_1/plan (the iteration it feeds)."""
    out = arm / "iter_1" / "plan"
    out.mkdir(parents=True, exist_ok=True)
    pipeline.plan(
        str(base / "eval" / "metrics.json"),
        str(base / "eval" / "bad_cases.jsonl"),
        str(root / "pool" / "annotations.jsonl"),
        str(root / "benchmark" / "items.parquet"),
        [str(base / "data" / "queries.jsonl")],
        str(out / "quotas.json"),
        str(out / "queries.jsonl"),
        1,
        {**knobs(config, "sampling", 1), "strategy": strategy},
        seed,
        str(root / "pool" / "embeddings.npz"),
        config["retrieval"],
        [],
        [],
    )
    return out


def run_round(root: Path, config: dict, base: Path, strategy: str, seed: int, name: str | None = None) -> Path:
    """One arm's iteration 1 from the seed's base (root/seed_<seed>/<name or strategy>): plan, generate,
    validate, train on the accepted samples plus replay of the seed set, evaluate."""
    arm = base.parent / (name or strategy)
    queries = plan(root, config, base, arm, strategy, seed) / "queries.jsonl"
    data = arm / "iter_1" / "data"
    data.mkdir(parents=True, exist_ok=True)
    teacher = knobs(config, "teacher", 1)
    pipeline.generate(str(queries), str(data / "responses.jsonl"), str(data / "generation.json"), teacher, seed)
    pipeline.validate(
        str(data / "responses.jsonl"),
        str(queries),
        str(data / "accepted.jsonl"),
        str(data / "rejected.jsonl"),
        1,
        teacher,
        str(root / "benchmark" / "items.parquet"),
        {**config["contamination"], "benchmark_kind": config["benchmark"]["kind"]},
    )
    pipeline.train(
        str(base / "model"),
        str(data / "accepted.jsonl"),
        [str(base / "data" / "accepted.jsonl")],
        str(root / "pool" / "images"),
        str(arm / "iter_1" / "model"),
        1,
        knobs(config, "train", 1),
        seed,
        config["threads"],
    )
    evaluate(root, arm / "iter_1", config)
    return arm


def accepted(arm: Path) -> int:
    """How many samples the arm's round accepted (what it trained on, besides replay)."""
    return len((arm / "iter_1" / "data" / "accepted.jsonl").read_text().splitlines())


def accuracy_by_type(iteration: Path) -> dict[str, float]:
    """Test-split accuracy per type name (percent), as summary.json reports it."""
    per_type = read_json(iteration / "eval" / "metrics.json")["splits"]["test"]["per_type"]
    return {qtype_name(int(t)): entry["acc"] for t, entry in per_type.items()}


def weak_mean(iteration: Path, base: Path) -> float:
    """Mean test accuracy of `iteration` over the base's weak types (dataengine.experiment's rule)."""
    return _mean_over(iteration, weak_types({"per_type": accuracy_by_type(base)}))


def other_mean(iteration: Path, base: Path) -> float:
    """The same over the other types, those the base already answers."""
    weak = weak_types({"per_type": accuracy_by_type(base)})
    return _mean_over(iteration, [name for name in accuracy_by_type(base) if name not in weak])


def _mean_over(iteration: Path, names: list[str]) -> float:
    accuracy = accuracy_by_type(iteration)
    return sum(accuracy[name] for name in names) / len(names)
