"""The comparison of sampling strategies over seeds (dataengine/report/experiment.py)."""

import polars as pl
import pytest

from dataengine.core.qtypes import TypeTable
from dataengine.report.experiment import compare, paired, plot, weak_types, write_markdown

TYPES = TypeTable({1: "A", 2: "B", 3: "C"})
# Type B's ten test items, right (1) or wrong (0), per seed and arm at iteration 1: gain is right where
# uniform was wrong on 5 items and wrong where it was right on 1 (seed 0), 4 and 0 (seed 1).
TYPE_B = {
    (0, "uniform"): "1111000000",
    (0, "gain"): "1110111110",
    (1, "uniform"): "1111100000",
    (1, "gain"): "1111111110",
}


def _predictions(seed: int, strategy: str) -> list[pl.DataFrame]:
    """Iterations 0 and 1 of an arm: types A and C score alike in every arm, B as TYPE_B says."""

    def frame(b_items: str) -> pl.DataFrame:
        rows = [(f"{t}-{k}", t, k < 5) for t in (1, 3) for k in range(10)]
        rows += [(f"2-{k}", 2, c == "1") for k, c in enumerate(b_items)]
        return pl.DataFrame(rows, schema=["id", "qtype", "correct"], orient="row").with_columns(split=pl.lit("test"))

    return [frame("1111100000"), frame(TYPE_B[seed, strategy])]


def _summary(per_type_by_iteration: list[dict], quotas: list[dict]) -> dict:
    return {
        "iterations": [
            {
                "iteration": i,
                "overall": sum(per_type.values()) / len(per_type),
                "per_type": per_type,
                "quotas": quotas[i] if i < len(quotas) else {},
            }
            for i, per_type in enumerate(per_type_by_iteration)
        ]
    }


BASE = {"A": 90.0, "B": 30.0, "C": 50.0}


def _arms() -> list[dict]:
    """Two seeds x two strategies; seed 1's base has C strong, so only B is weak there."""
    base_1 = {"A": 90.0, "B": 40.0, "C": 70.0}
    return [
        {
            "seed": 0,
            "strategy": "gain",
            "predictions": _predictions(0, "gain"),
            "summary": _summary([BASE, {"A": 90.0, "B": 50.0, "C": 70.0}], [{"B": 6, "C": 4}]),
        },
        {
            "seed": 0,
            "strategy": "uniform",
            "predictions": _predictions(0, "uniform"),
            "summary": _summary([BASE, {"A": 92.0, "B": 40.0, "C": 56.0}], [{"A": 4, "B": 3, "C": 3}]),
        },
        {
            "seed": 1,
            "strategy": "gain",
            "predictions": _predictions(1, "gain"),
            "summary": _summary([base_1, {"A": 88.0, "B": 60.0, "C": 70.0}], [{"B": 8, "C": 2}]),
        },
        {
            "seed": 1,
            "strategy": "uniform",
            "predictions": _predictions(1, "uniform"),
            "summary": _summary([base_1, {"A": 90.0, "B": 52.0, "C": 72.0}], [{"A": 4, "B": 3, "C": 3}]),
        },
    ]


def test_weak_types_are_those_below_60_at_iteration_0():
    assert weak_types({"per_type": BASE}) == ["B", "C"]


def test_compare_averages_each_seeds_own_weak_types():
    result = compare(_arms(), default="gain", types=TYPES)
    assert result["weak_types"] == {0: ["B", "C"], 1: ["B"]}
    gain, uniform = result["strategies"]["gain"], result["strategies"]["uniform"]
    assert gain["weak_acc"] == [[40.0, 60.0], [40.0, 60.0]]
    assert uniform["weak_acc"] == [[40.0, 48.0], [40.0, 52.0]]
    assert uniform["paired"]["weak_acc"]["diff"] == [[0.0, 12.0], [0.0, 8.0]]
    # overall: seed 0 70.0 - 62.667, seed 1 72.667 - 71.333; t(1 df) = 12.706, sd 4.243 over 2 seeds
    assert uniform["paired"]["overall"]["mean"] == pytest.approx([0.0, 4.333], abs=1e-3)
    assert uniform["paired"]["overall"]["ci95"][1] == pytest.approx([4.333 - 38.12, 4.333 + 38.12], abs=0.01)
    assert gain["paired"]["weak_acc"]["diff"] == [[0.0, 0.0], [0.0, 0.0]]
    assert gain["weak_mean"] == [40.0, 60.0] and uniform["weak_sd"] == pytest.approx([0.0, 2.8284], abs=1e-3)
    assert gain["budget"] == [{"B": 7.0, "C": 3.0}]


def test_paired_difference_has_the_t_interval_over_seeds():
    mine = [[50.0, 60.0 + d] for d in (1, 2, 3, 4, 5)]
    theirs = [[50.0, 60.0]] * 5
    result = paired(mine, theirs)
    assert result["diff"] == [[0.0, float(d)] for d in (1, 2, 3, 4, 5)]
    assert result["mean"] == [0.0, 3.0]
    assert result["ci95"][0] == [0.0, 0.0]
    assert result["ci95"][1] == pytest.approx([1.037, 4.963], abs=1e-3)  # R: t.test(1:5)$conf.int
    assert paired([[1.0, 2.0]], [[0.0, 0.0]]) == {"diff": [[1.0, 2.0]], "mean": [1.0, 2.0], "ci95": [None, None]}


def test_arms_are_compared_on_the_same_items_with_mcnemar_pooled_over_seeds():
    items = compare(_arms(), default="gain", types=TYPES)["strategies"]["uniform"]["items"]
    assert items[0] is None  # iteration 0: one base model per seed
    # B: 9 items rose and 1 fell over both seeds' 20; p = 2 (C(10,0) + C(10,1)) / 2^10 = 0.0215
    assert items[1]["per_type"]["B"] == {"points": 40.0, "n": 20, "p": 0.0215}
    assert items[1]["per_type"]["A"] == {"points": 0.0, "n": 20, "p": 1.0}
    assert items[1]["overall"] == {"points": 13.33, "n": 60, "p": 0.0215}
    assert "items" not in compare(_arms(), default="gain", types=TYPES)["strategies"]["gain"]


def test_compare_names_missing_arms_and_an_absent_default():
    with pytest.raises(ValueError, match="experiment arms missing: seed 1 uniform"):
        compare(_arms()[:3], default="gain", types=TYPES)
    with pytest.raises(ValueError, match="default strategy 'paper' is not among"):
        compare(_arms(), default="paper", types=TYPES)


def test_markdown_and_plot_show_the_comparison(tmp_path):
    result = compare(_arms(), default="gain", types=TYPES)
    write_markdown(result, tmp_path / "experiment.md", TypeTable({1: "C", 2: "B", 3: "A"}))
    text = (tmp_path / "experiment.md").read_text()
    assert "| gain | 40.0 ± 0.0 | 60.0 ± 0.0 |" in text
    assert "| uniform | weak types | +0.0 [+0.0, +0.0] | +10.0 [-15.4, +35.4] |" in text
    assert "| against | measure | iter | seed 0 | seed 1 |" in text  # per seed: one column each
    assert "| uniform | weak types | 1 | +12.0 | +8.0 |" in text
    assert "| uniform | overall | 1 | +7.3 | +1.3 |" in text
    assert "| iter 1 | overall | +13.3 points (n 60, p 0.021) |" in text  # on the items, pooled
    assert "| iter 1 | B | +40.0 points (n 20, p 0.021) |" in text
    assert "| plan | C | B | A |" in text  # the types in their table's order
    assert "| gain, from iter 0 | 3 | 7 | 0 |\n| uniform, from iter 0 | 3 | 3 | 4 |" in text  # one budget table
    plot(result, tmp_path / "experiment.png")
    assert (tmp_path / "experiment.png").read_bytes()[:4] == b"\x89PNG"
