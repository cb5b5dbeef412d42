"""`make bench-targeting`: sampling strategies compared over seeds at equal budget, in two worlds, from nothing.

Runs the experiments of WORLDS one after the other (each the offline loop for each arm and seed,
the arms of a seed sharing its base model) under results/<run>/ (removed first unless --resume),
then writes results/bench/targeting.json:
{"seconds", "worlds": [{"world", "config", "seconds", "seeds", "default", "weak_types",
"strategies": {arm: {"weak_acc", "overall", "budget", "paired"}}, "probe"?}]}
where weak_acc[seed][iteration] is the mean test accuracy over the types below 60 % at iteration 0
and paired[measure] the default arm minus this one on the same seed, with its mean and 95 % interval
over seeds. The `small_text` world also records its `probe`: the unlearnable type's test accuracy
and the samples of it each arm had planned before each iteration. Prints the figures the claims rest on.

With --ablation NAME it runs one of ABLATIONS instead: worlds with their overlays, which add arms
(or, naming another `run:`, draw the world anew), keeping the arms and base models already there
(those of `make bench-targeting`, else they are made first), and writes results/bench/NAME.json,
those worlds' records in the same shape. `make bench-anchor`: the similar-image anchor against none,
in the default world; `make bench-bound`: the default told to skip the small_text world's
unlearnable type before its first plan and after the first round, the most that knowing it before,
or reading that round perfectly, could add; `make bench-knobs`: the default with each gain knob
moved from its default, in the small_text world; `make bench-redraw`: `gain`, `paper` and the
bounds in a second and a third draw of the small_text world.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = REPO / "config" / "experiments"
# world -> (config, the type that world makes unlearnable, or None)
WORLDS = {
    "default": (EXPERIMENTS / "targeting.yaml", None),
    "small_text": (EXPERIMENTS / "targeting-small-text.yaml", "Text Understanding"),
}
BOUND = EXPERIMENTS / "targeting-small-text-bound.yaml"
# ablation -> the experiments it runs, each (world, overlays on its config, in order)
ABLATIONS = {
    "anchor": [("default", [EXPERIMENTS / "targeting-anchor.yaml"])],
    "bound": [("small_text", [BOUND])],
    "knobs": [("small_text", [EXPERIMENTS / "targeting-small-text-knobs.yaml"])],
    "redraw": [
        ("small_text", [EXPERIMENTS / "targeting-small-text-redraw.yaml", BOUND]),
        ("small_text", [EXPERIMENTS / "targeting-small-text-redraw-2.yaml", BOUND]),
    ],
}
KEEP = ("weak_acc", "overall", "budget", "paired")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--resume", action="store_true", help="keep finished arms (the time is then partial)")
    parser.add_argument("--worlds", nargs="+", choices=list(WORLDS), default=list(WORLDS))
    parser.add_argument("--ablation", choices=list(ABLATIONS), help="run this ablation instead")
    parser.add_argument(
        "--out", type=Path, help="default: results/bench/targeting.json (ABLATION.json with --ablation)"
    )
    args = parser.parse_args()

    if args.ablation:
        records = [
            run_world(world, args.cores, resume=True, overlays=overlays) for world, overlays in ABLATIONS[args.ablation]
        ]
    else:
        records = [run_world(world, args.cores, args.resume) for world in args.worlds]
    args.out = args.out or REPO / "results" / "bench" / f"{args.ablation or 'targeting'}.json"
    result = {"seconds": round(sum(r["seconds"] for r in records), 1), "worlds": records}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"seconds      {result['seconds']:.1f}{' (resumed)' if args.resume else ''}")
    for record in records:
        show(record)
    print(f"wrote {args.out}")
    return 0


def run_world(world: str, cores: int, resume: bool, overlays: Sequence[Path] = ()) -> dict:
    """Run one world's experiment (its config, then `overlays` over it) from nothing, or from what is
    there with `resume`; its comparison as the bench records it."""
    config, unlearnable = WORLDS[world]
    configs = [config, *overlays]
    run = _run_name(configs)
    run_dir = REPO / "results" / run
    if not resume:
        shutil.rmtree(run_dir, ignore_errors=True)
    snakemake = Path(sys.executable).parent / "snakemake"
    start = time.perf_counter()
    subprocess.run([str(snakemake), "--cores", str(cores), "--configfile", *map(str, configs)], cwd=REPO, check=True)
    seconds = time.perf_counter() - start

    comparison = json.loads((run_dir / "report" / "experiment.json").read_text())
    record = {
        "world": world,
        "config": " ".join(str(path.relative_to(REPO)) for path in configs),
        "seconds": round(seconds, 1),
        "seeds": comparison["seeds"],
        "default": comparison["default"],
        "weak_types": comparison["weak_types"],
        "strategies": {name: {k: e[k] for k in KEEP} for name, e in comparison["strategies"].items()},
    }
    if unlearnable:
        record["probe"] = probe(run_dir, comparison, unlearnable)
    return record


def probe(run_dir: Path, comparison: dict, qtype: str) -> dict:
    """Per arm and seed, the type's test accuracy per iteration and the samples of it planned before
    each iteration (the seed set's not counted): does data move it?"""
    arms = {}
    for name in comparison["strategies"]:
        acc, samples = [], []
        for seed in comparison["seeds"]:
            summary = json.loads((run_dir / f"seed_{seed}" / name / "report" / "summary.json").read_text())
            iterations = summary["iterations"]
            acc.append([it["per_type"][qtype] for it in iterations])
            planned = [0]
            for it in iterations[:-1]:
                planned.append(planned[-1] + it["quotas"].get(qtype, 0))
            samples.append(planned)
        arms[name] = {"acc": acc, "samples": samples}
    return {"type": qtype, "arms": arms}


def show(record: dict) -> None:
    """The world's figures: accuracy per arm and the default's paired lead over each other arm."""
    default, strategies = record["default"], record["strategies"]
    print(f"\n== world {record['world']} ({record['config']}, {record['seconds']:.0f} s)")
    for seed, names in record["weak_types"].items():
        print(f"weak types   seed {seed}: {', '.join(names)}")
    for name, entry in strategies.items():
        for key in ("weak_acc", "overall"):
            means = [sum(column) / len(column) for column in zip(*entry[key])]
            print(f"{name:<13} {key:<9}" + "  ".join(f"{m:5.1f}" for m in means))
    for name, entry in strategies.items():
        if name == default:
            continue
        for key, pair in entry["paired"].items():
            cells = [
                f"{m:+5.1f}" + (f" [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else "")
                for m, ci in zip(pair["mean"], pair["ci95"])
            ]
            print(f"{default} - {name:<12} {key:<9}" + "  ".join(cells))
    if "probe" in record:
        print(f"probe: {record['probe']['type']}, test accuracy per iteration / samples planned before it")
        for name, arm in record["probe"]["arms"].items():
            for acc, samples in zip(arm["acc"], arm["samples"]):
                print(f"  {name:<12}" + "  ".join(f"{a:5.1f}/{n:<5d}" for a, n in zip(acc, samples)))


def _run_name(configs: Sequence[Path]) -> str:
    """The `run:` the config files name, the last that names one winning as in Snakemake (the
    experiment's folder under results/)."""
    runs = [run for config in configs if (run := (yaml.safe_load(config.read_text()) or {}).get("run"))]
    if not runs:
        raise ValueError(f"none of {[str(c) for c in configs]} has a top-level `run:` key; the bench needs it")
    return runs[-1]


if __name__ == "__main__":
    sys.exit(main())
