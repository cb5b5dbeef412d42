"""`make bench-pooled`: each arm's paired lead over the paper's rule, pooled over draws of a world.

The five seeds of one targeting bench share one draw of the benchmark and image pool, so their
interval is the spread within that draw. This reads several bench records of the same world drawn
anew (`make bench-bound`, `make bench-redraw`) and pools their seeds: per arm that every record
has, the arm minus the reference arm (`paper`) on the same seed, overall and on the weak types,
with the mean and 95 % t interval over all the seeds, so the interval covers draws too. Where the
records probe an unlearnable type, also each arm's samples of it over all its plans per seed, and in
how many seeds it planned fewer than the reference. Writes results/bench/pooled.json: {"world",
"files", "seeds", "against", "paired": {arm: {measure: {"diff", "mean", "ci95"}}}, "probe"?: {"type",
"samples": {arm: [per seed]}, "fewer": {arm: seeds}}}, rows in the order of the files and their seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from dataengine.report.experiment import paired

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "results" / "bench"
MEASURES = ("overall", "weak_acc")


def pool(records: Sequence[dict], against: str) -> dict:
    """The lead over `against` of each arm all `records` (bench world records) have, paired by seed
    and pooled over the records' seeds."""
    arms = [name for name in records[0]["strategies"] if all(name in r["strategies"] for r in records)]
    if against not in arms:
        raise ValueError(f"not every record has the arm {against!r}; the arms all have: {arms}")

    def rows(arm: str, measure: str) -> list[list[float]]:
        return [row for record in records for row in record["strategies"][arm][measure]]

    result = {
        "seeds": sum(len(record["seeds"]) for record in records),
        "against": against,
        "paired": {
            arm: {measure: paired(rows(arm, measure), rows(against, measure)) for measure in MEASURES}
            for arm in arms
            if arm != against
        },
    }
    if all("probe" in record for record in records):
        result["probe"] = probe_spend(records, arms, against)
    return result


def probe_spend(records: Sequence[dict], arms: Sequence[str], against: str) -> dict:
    """Each arm's samples of the probed (unlearnable) type over all its plans, per seed, and in how
    many seeds it planned fewer of them than `against`."""
    samples = {
        arm: [seed[-1] for record in records for seed in record["probe"]["arms"][arm]["samples"]] for arm in arms
    }
    fewer = {
        arm: sum(mine < theirs for mine, theirs in zip(samples[arm], samples[against]))
        for arm in arms
        if arm != against
    }
    return {"type": records[0]["probe"]["type"], "samples": samples, "fewer": fewer}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=[BENCH / "bound.json", BENCH / "redraw.json"])
    parser.add_argument("--world", default="small_text")
    parser.add_argument("--against", default="paper", help="the arm every other is paired against")
    parser.add_argument("--out", type=Path, default=BENCH / "pooled.json")
    args = parser.parse_args()

    records = []
    for path in args.files:
        if not path.is_file():
            raise SystemExit(f"{path}: no such bench record (its make target writes it)")
        found = [record for record in json.loads(path.read_text())["worlds"] if record["world"] == args.world]
        if not found:
            raise SystemExit(f"{path}: no record of world {args.world!r}")
        records += found
    try:
        result = {"world": args.world, "files": [str(path) for path in args.files], **pool(records, args.against)}
    except ValueError as err:
        raise SystemExit(f"{', '.join(map(str, args.files))}: {err}") from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"world {args.world}, {result['seeds']} seeds from {len(args.files)} files: each arm minus {args.against}")
    for arm, measures in result["paired"].items():
        for measure, pair in measures.items():
            cells = [f"{m:+5.1f} [{ci[0]:+.1f}, {ci[1]:+.1f}]" for m, ci in zip(pair["mean"][1:], pair["ci95"][1:])]
            print(f"  {arm:<20} {measure:<9}" + "  ".join(cells))
    if "probe" in result:
        for arm, seeds in result["probe"]["fewer"].items():
            print(
                f"  {arm:<20} planned fewer samples of {result['probe']['type']} than {args.against} "
                f"in {seeds} of {result['seeds']} seeds"
            )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
