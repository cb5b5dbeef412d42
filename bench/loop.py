"""`make bench-loop`: the default offline loop from nothing, timed, with the peak memory of any job.

Runs `snakemake --cores N` on config/config.yaml under a separate run name (results/bench-loop/,
removed first so the base model is built too), then writes results/bench/loop.json:
{"seconds", "peak_rss_mb", "iterations": [summary rows]} and prints the figures.
Peak memory comes from Snakemake's own per-job benchmark files (max_rss).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dataengine.report.experiment import weak_types

REPO = Path(__file__).resolve().parent.parent
RUN = "bench-loop"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch threads per job (1: bit-reproducible across machines)")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "bench" / "loop.json")
    args = parser.parse_args()

    run_dir = REPO / "results" / RUN
    shutil.rmtree(run_dir, ignore_errors=True)
    snakemake = Path(sys.executable).parent / "snakemake"
    start = time.perf_counter()
    overrides = [f"run={RUN}"] + ([f"threads={args.threads}"] if args.threads else [])
    subprocess.run([str(snakemake), "--cores", str(args.cores), "--config", *overrides], cwd=REPO, check=True)
    seconds = time.perf_counter() - start

    peak = 0.0
    for tsv in sorted((run_dir / "benchmarks").glob("*.tsv")):
        with tsv.open() as rows:
            for row in csv.DictReader(rows, delimiter="\t"):
                if row["max_rss"] not in ("", "NA", "-"):
                    peak = max(peak, float(row["max_rss"]))
    rows = json.loads((run_dir / "report" / "summary.json").read_text())["iterations"]
    result = {"seconds": round(seconds, 1), "peak_rss_mb": round(peak, 1), "iterations": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    weak = weak_types(rows[0])
    weak_mean = [sum(row["per_type"][t] for t in weak) / len(weak) if weak else float("nan") for row in rows]
    print(f"seconds          {seconds:.1f}")
    print(f"peak_rss_mb      {peak:.1f}")
    print("overall          " + "  ".join(f"{row['overall']:.1f}" for row in rows))
    print(f"weak types       {', '.join(weak) or '-'}")
    print("weak mean        " + "  ".join(f"{m:.1f}" for m in weak_mean))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
