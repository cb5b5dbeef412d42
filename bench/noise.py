"""`make bench-noise`: how far apart one arm's iteration ends when only training's draws differ.

Past the first plan, an arm's lead over another on a seed mixes what their plans differ by with
training's own noise: which earlier samples are replayed, the order of the records, dropout. This
measures the second alone (an A/A test): it retrains one arm's iteration from the same model on the
same data with other training seeds (each with the threads the run's jobs asked for, so that its
own seed gives back its model), evaluates each model on the benchmark, and reports per seed the
test accuracies (overall and on the seed's weak types; the arm's own model first), the within-seed
sd pooled over seeds, the sd of the difference of two trainings (sqrt(2) times it), and the
half-width of the 95 % t interval that this noise alone gives a mean of paired differences over the
run's seeds. Reads a finished offline experiment run (default: `make bench-targeting`'s small_text
world, arm gain, iteration 1) and writes results/bench/noise.json:
{"run", "arm", "iteration", "seconds", "seeds", "training_seeds", "acc": {measure: [[per training] per seed]},
 "sd": {measure}, "sd_difference": {measure}, "half_width": {measure}}.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import yaml

from dataengine import pipeline
from dataengine.core.config import knobs
from dataengine.report.experiment import T95, WEAK_BELOW

REPO = Path(__file__).resolve().parent.parent
MEASURES = ("overall", "weak_acc")
SEED_STRIDE = 1000  # training seeds seed + k * SEED_STRIDE stay clear of the run's seeds and of each other


def spread(acc: Sequence[Sequence[float]]) -> dict:
    """From accuracies per seed (rows) and training (columns): the within-seed sd pooled over seeds,
    the sd of the difference of two trainings of a seed, and the 95 % half-width that gives a mean of
    one such difference per seed over the seeds."""
    if len(acc) < 2 or min(map(len, acc)) < 2:
        raise ValueError("need at least two seeds of at least two trainings each")
    sd = math.sqrt(statistics.fmean(statistics.variance(row) for row in acc))
    difference = math.sqrt(2) * sd
    t = T95[min(len(acc) - 1, len(T95)) - 1]
    return {
        "sd": round(sd, 3),
        "sd_difference": round(difference, 3),
        "half_width": round(t * difference / math.sqrt(len(acc)), 3),
    }


def seeds_of(run_dir: Path, arm: str, iteration: int) -> list[int]:
    """The run's seeds whose arm has finished the iteration's evaluation."""
    seeds = sorted(int(path.name.removeprefix("seed_")) for path in run_dir.glob("seed_*"))
    done = [s for s in seeds if (run_dir / f"seed_{s}" / arm / f"iter_{iteration}" / "eval" / "metrics.json").is_file()]
    if not done:
        raise SystemExit(f"{run_dir}: no seed has finished {arm}/iter_{iteration} (run its experiment first)")
    return done


def accuracies(metrics_path: Path, weak: Sequence[str]) -> dict[str, float]:
    """Test accuracy overall and the mean over the `weak` type ids, from a metrics.json."""
    test = json.loads(Path(metrics_path).read_text())["splits"]["test"]
    return {"overall": test["overall"]["acc"], "weak_acc": statistics.fmean(test["per_type"][t]["acc"] for t in weak)}


def retrain(
    run_dir: Path, config: dict, arm: str, iteration: int, seed: int, training_seed: int, weak: list[str]
) -> dict:
    """The arm's training of `iteration` on seed `seed`, repeated with `training_seed`, then evaluated."""

    def iteration_dir(i: int) -> Path:  # iteration 0 (base model, seed set) is shared by the seed's arms
        return run_dir / f"seed_{seed}" / ("iter_0" if i == 0 else f"{arm}/iter_{i}")

    replay = [iteration_dir(i) / "data" / "accepted.jsonl" for i in range(iteration)]
    threads, loader_workers = config["threads"] + config["loader_workers"], config["loader_workers"]  # as the rules ask
    with tempfile.TemporaryDirectory(prefix="noise-") as scratch:
        out = Path(scratch)
        pipeline.train(
            model_dir=str(iteration_dir(iteration - 1) / "model"),
            accepted=str(iteration_dir(iteration) / "data" / "accepted.jsonl"),
            replay_sources=[str(path) for path in replay if path.is_file()],  # a real base model has no seed set
            pool_images=str(run_dir / "pool" / "images"),
            out_dir=str(out / "model"),
            iteration=iteration,
            cfg=knobs(config, "train", iteration),
            seed=training_seed,
            threads=threads,
            dtype=config["student"]["dtype"],
            loader_workers=loader_workers,
        )
        pipeline.evaluate(
            model_dir=str(out / "model"),
            items=str(run_dir / "benchmark" / "items.parquet"),
            out_predictions=str(out / "predictions.parquet"),
            out_metrics=str(out / "metrics.json"),
            out_bad_cases=str(out / "bad_cases.jsonl"),
            scoring=config["student"]["scoring"],
            batch_size=config["evaluate"]["batch_size"],
            threads=threads,
            dtype=config["student"]["dtype"],
            extractor=config["evaluate"]["extractor"],
            loader_workers=loader_workers,
        )
        return accuracies(out / "metrics.json", weak)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=REPO / "results" / "bench-targeting-small-text")
    parser.add_argument("--arm", default="gain")
    parser.add_argument("--iteration", type=int, default=1)
    parser.add_argument("--trainings", type=int, default=4, help="trainings per seed besides the arm's own")
    parser.add_argument("--cores", type=int, default=2, help="trainings run side by side, each with the run's threads")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "bench" / "noise.json")
    args = parser.parse_args()
    if args.iteration < 1 or args.trainings < 1:
        raise SystemExit("--iteration and --trainings must be at least 1")

    start = time.perf_counter()
    if not (args.run / "config.yaml").is_file():
        raise SystemExit(f"{args.run}: no config.yaml (not a finished run; the default is make bench-targeting's)")
    config = yaml.safe_load((args.run / "config.yaml").read_text())
    seeds = seeds_of(args.run, args.arm, args.iteration)
    weak = {}
    for seed in seeds:
        base = json.loads((args.run / f"seed_{seed}" / "iter_0" / "eval" / "metrics.json").read_text())
        weak[seed] = [t for t, entry in base["splits"]["test"]["per_type"].items() if entry["acc"] < WEAK_BELOW]
        if not weak[seed]:
            raise SystemExit(
                f"{args.run}: seed {seed} has no type below {WEAK_BELOW} % at iteration 0 (no weak types to measure)"
            )
    training_seeds = {seed: [seed] + [seed + k * SEED_STRIDE for k in range(1, args.trainings + 1)] for seed in seeds}
    own = {
        seed: args.run / f"seed_{seed}" / args.arm / f"iter_{args.iteration}" / "eval" / "metrics.json"
        for seed in seeds
    }
    acc = {seed: {0: accuracies(own[seed], weak[seed])} for seed in seeds}
    with ProcessPoolExecutor(max(1, args.cores // (config["threads"] + config["loader_workers"]))) as pool:
        jobs = {
            pool.submit(retrain, args.run, config, args.arm, args.iteration, seed, training_seed, weak[seed]): (seed, k)
            for seed in seeds
            for k, training_seed in enumerate(training_seeds[seed])
            if k > 0
        }
        for n, job in enumerate(as_completed(jobs), 1):
            seed, k = jobs[job]
            acc[seed][k] = job.result()
            print(
                f"[{n}/{len(jobs)}] seed {seed}, training seed {training_seeds[seed][k]}: "
                f"{acc[seed][k]['overall']:.1f} % overall",
                flush=True,
            )

    table = {
        m: [[round(acc[seed][k][m], 3) for k in range(len(training_seeds[seed]))] for seed in seeds] for m in MEASURES
    }
    stats = {m: spread(table[m]) for m in MEASURES}
    result = {
        "run": str(args.run.resolve().relative_to(REPO)) if args.run.resolve().is_relative_to(REPO) else str(args.run),
        "arm": args.arm,
        "iteration": args.iteration,
        "seconds": round(time.perf_counter() - start, 1),
        "seeds": seeds,
        "training_seeds": [training_seeds[seed] for seed in seeds],
        "acc": table,
        **{key: {m: stats[m][key] for m in MEASURES} for key in ("sd", "sd_difference", "half_width")},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"\n{args.arm}, iteration {args.iteration}, {len(seeds)} seeds x {args.trainings + 1} trainings "
        f"({result['seconds']:.0f} s)"
    )
    for measure in MEASURES:
        for seed, row in zip(seeds, table[measure]):
            print(f"  {measure:<9} seed {seed}: " + "  ".join(f"{a:5.1f}" for a in row))
        print(
            f"  {measure:<9} sd {stats[measure]['sd']:.2f}, of a difference {stats[measure]['sd_difference']:.2f}, "
            f"95 % half-width over {len(seeds)} seeds {stats[measure]['half_width']:.2f}"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
