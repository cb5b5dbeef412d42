"""The quality guard's loop (tests/quality_loop.py) over several seeds: the effect and the spread
its thresholds in tests/test_quality_guard.py are set from.

For each seed: a base model, then one round per arm at equal budget: `gain` (the default, targeted),
`uniform`, and `gain` without replay. Prints per seed the mean test accuracy over the weak types
(below 60 % at the base) and over the others, then per comparison the mean, sd and minimum over seeds
of: the rise of the weak types in the targeted round, the lead of targeted over uniform data, and
what replay keeps of the other types. Writes results/bench/quality_guard.json.

    python bench/quality_guard.py [--seeds 0 1 2 3 4 5 6 7] [--out results/bench/quality_guard.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import quality_loop  # noqa: E402  (the guard's own loop, so the figures are the test's)

ARMS = {"gain": ("gain", {}), "uniform": ("uniform", {}), "no_replay": ("gain", {"train": {"replay": 0}})}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5, 6, 7])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "bench" / "quality_guard.json")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = quality_loop.world_config()
        start = time.perf_counter()
        quality_loop.build_world(root, config)
        print(f"world: {time.perf_counter() - start:.0f} s", flush=True)
        for seed in args.seeds:
            start = time.perf_counter()
            base = quality_loop.build_base(root, config, seed)
            row = {"seed": seed, "base_s": round(time.perf_counter() - start, 1), "weak": {}, "other": {}}
            for name, (strategy, overrides) in {"base": (None, None), **ARMS}.items():
                start = time.perf_counter()
                if strategy is not None:
                    arm_config = quality_loop.world_config(overrides)
                    quality_loop.run_round(root, arm_config, seed, strategy, name)
                    row[f"{name}_s"] = round(time.perf_counter() - start, 1)
                layout, i = (base, 0) if strategy is None else (quality_loop.seed_layout(root, seed, name), 1)
                row["weak"][name] = round(quality_loop.weak_mean(layout, i), 2)
                row["other"][name] = round(quality_loop.other_mean(layout, i), 2)
            rows.append(row)
            print(json.dumps(row), flush=True)

    comparisons = {
        "rise (gain - base), weak types": [r["weak"]["gain"] - r["weak"]["base"] for r in rows],
        "lead (gain - uniform), weak types": [r["weak"]["gain"] - r["weak"]["uniform"] for r in rows],
        "replay (gain - no_replay), other types": [r["other"]["gain"] - r["other"]["no_replay"] for r in rows],
        "replay (gain - no_replay), weak types": [r["weak"]["gain"] - r["weak"]["no_replay"] for r in rows],
    }
    summary = {}
    for name, values in comparisons.items():
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        summary[name] = {
            "per_seed": [round(v, 2) for v in values],
            "mean": round(statistics.fmean(values), 2),
            "sd": round(sd, 2),
            "min": round(min(values), 2),
        }
        print(
            f"{name:<40} mean {statistics.fmean(values):+6.2f}  sd {sd:5.2f}  min {min(values):+6.2f}   per seed "
            + " ".join(f"{v:+.1f}" for v in values)
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"world": quality_loop.WORLD, "seeds": rows, "summary": summary}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
