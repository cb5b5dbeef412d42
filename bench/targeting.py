"""`make bench-targeting`: sampling strategies compared over seeds at equal budget, from nothing.

Runs the experiment of config/experiments/targeting.yaml (the offline default loop for each
strategy and seed, the arms of a seed sharing its base model) under results/bench-targeting/
(removed first unless --resume), then writes results/bench/targeting.json:
{"seconds", "seeds", "default", "weak_types", "strategies": {name: {"weak_acc", "overall", "budget"}}}
where weak_acc[seed][iteration] is the mean test accuracy over the types below 60 % at iteration 0,
and prints the figures the targeting claim rests on.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config" / "experiments" / "targeting.yaml"
RUN = "bench-targeting"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--resume", action="store_true", help="keep finished arms (the time is then partial)")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "bench" / "targeting.json")
    args = parser.parse_args()

    run_dir = REPO / "results" / RUN
    if not args.resume:
        shutil.rmtree(run_dir, ignore_errors=True)
    snakemake = Path(sys.executable).parent / "snakemake"
    start = time.perf_counter()
    subprocess.run(
        [str(snakemake), "--cores", str(args.cores), "--configfile", str(CONFIG), "--config", f"run={RUN}"],
        cwd=REPO,
        check=True,
    )
    seconds = time.perf_counter() - start

    comparison = json.loads((run_dir / "report" / "experiment.json").read_text())
    keep = ("weak_acc", "overall", "budget")
    result = {
        "seconds": round(seconds, 1),
        "seeds": comparison["seeds"],
        "default": comparison["default"],
        "weak_types": comparison["weak_types"],
        "strategies": {name: {k: e[k] for k in keep} for name, e in comparison["strategies"].items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    default = comparison["default"]
    strategies = comparison["strategies"]
    print(f"seconds      {seconds:.1f}{' (resumed)' if args.resume else ''}")
    for seed, names in comparison["weak_types"].items():
        print(f"weak types   seed {seed}: {', '.join(names)}")
    for name, entry in strategies.items():
        print(f"{name:<12} weak " + "  ".join(f"{m:5.1f}" for m in entry["weak_mean"])
              + "   overall " + "  ".join(f"{m:5.1f}" for m in entry["overall_mean"]))
    for name, entry in strategies.items():
        if name == default:
            continue
        leads = entry["default_minus_this"]
        per_iteration = [statistics.fmean(column) for column in zip(*leads)]
        print(f"{default} - {name:<8} weak, mean per iteration " + "  ".join(f"{d:+5.1f}" for d in per_iteration))
        print(f"{'':<{len(default) + 11}} at iteration 1 per seed " + "  ".join(f"{diffs[1]:+5.1f}" for diffs in leads))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
