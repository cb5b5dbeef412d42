"""Paired tests on the items: two evaluations of the same test items (consecutive iterations of a run,
or two arms of an experiment) compared item by item. Each iteration scores the same test items again, so whether a change is real
is a question about the items whose verdict changed, not about two intervals: McNemar's test, exact
(the discordant items are a binomial draw with p 1/2 when nothing changed). Rises and falls are
treated alike: p is two-sided.
"""

from __future__ import annotations

import math

import polars as pl

from dataengine.core.qtypes import TypeTable

SIGNIFICANT = 0.05  # a change whose p is below this is reported as one


def mcnemar_p(fell: int, rose: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts: items right before and wrong after
    (`fell`) and the reverse (`rose`)."""
    n = fell + rose
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(fell, rose) + 1))
    return min(1.0, 2 * tail / 2**n)


def _discordant(before: pl.DataFrame, after: pl.DataFrame) -> tuple[int, int, int]:
    """(fell, rose, n) over the items both evaluations scored (`id`, `correct`)."""
    both = before.select("id", "correct").join(after.select("id", "correct"), on="id", suffix="_after")
    fell = both.filter(pl.col("correct") & ~pl.col("correct_after")).height
    rose = both.filter(~pl.col("correct") & pl.col("correct_after")).height
    return fell, rose, both.height


def change(*pairs: tuple[pl.DataFrame, pl.DataFrame]) -> dict:
    """{points, n, p}: the accuracy change in points on the items both evaluations of each (before,
    after) pair scored, how many there are, and McNemar's p. Several pairs (the seeds of an
    experiment, each its own items' pairing) pool their discordant items: under no change each is
    still a coin flip."""
    fell, rose, n = (sum(counts) for counts in zip(*(_discordant(*pair) for pair in pairs)))
    return {"points": round(100 * (rose - fell) / n, 2) if n else 0.0, "n": n, "p": round(mcnemar_p(fell, rose), 4)}


def changes(before: pl.DataFrame, after: pl.DataFrame, types: TypeTable) -> dict:
    """The test split's change overall and per type (by its name in `types`) from one evaluation's
    predictions to the next: {"overall": {points, n, p}, "per_type": {name: {points, n, p}}}."""
    return pooled_changes([(before, after)], types)


def pooled_changes(pairs: list[tuple[pl.DataFrame, pl.DataFrame]], types: TypeTable) -> dict:
    """`changes` over several (before, after) pairs of predictions, pooled (`change`)."""
    pairs = [tuple(frame.filter(pl.col("split") == "test") for frame in pair) for pair in pairs]
    qtypes = sorted(set.intersection(*(set(frame["qtype"].unique()) for pair in pairs for frame in pair)))
    return {
        "overall": change(*pairs),
        "per_type": {
            types.name(qtype): change(*(tuple(f.filter(pl.col("qtype") == qtype) for f in pair) for pair in pairs))
            for qtype in qtypes
        },
    }


def describe(entry: dict) -> str:
    """A change as a person reads it: "+3.2 points (n 250, p 0.04)"."""
    return f"{entry['points']:+.1f} points (n {entry['n']}, p {entry['p']:.2g})"
