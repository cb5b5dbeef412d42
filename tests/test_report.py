"""The report: summary.json's exact structure and numbers, summary.md, accuracy.png and the run's page."""

import hashlib
import json
import re

import polars as pl
import pytest
from PIL import Image

from dataengine.core.qtypes import SEED_TABLE, SEED_TYPES, run_types
from dataengine.report.best import REASON, TIE_POINTS, choose, model_path, recommend, record
from dataengine.report.figures import loss_svg, panel_grid, plot_accuracy, plot_run_types, type_panels_figure
from dataengine.report.page import write_page
from dataengine.report.paired import changes as paired_changes
from dataengine.report.paired import mcnemar_p
from dataengine.report.plans import plan_rows, plateaus, terms_text
from dataengine.report.run import Iteration, Run
from dataengine.report.summary import config_hash, summarize, write_summary_md
from dataengine.report.value import per_point_text, round_value, training_gpu_hours
from tools.fake_openai import FakeSettings


def _split(overall: tuple, per_type: dict[str, tuple]) -> dict:
    def entry(acc, n, low, high):
        return {"acc": acc, "n": n, "ci_low": low, "ci_high": high}

    return {"overall": entry(*overall), "per_type": {t: entry(*v) for t, v in per_type.items()}}


# Two iterations; dev numbers differ from test ones so a summary reading dev would be caught.
METRICS = [
    {
        "scoring": "option_text",
        "splits": {
            "test": _split((50.0, 200, 43.1, 56.9), {"3": (40.0, 100, 30.9, 49.8), "1": (60.0, 100, 50.2, 69.1)}),
            "dev": _split((10.0, 50, 4.3, 21.4), {"3": (10.0, 25, 2.8, 30.1), "1": (10.0, 25, 2.8, 30.1)}),
        },
    },
    {
        "scoring": "option_text",
        "splits": {
            "test": _split((62.5, 200, 55.6, 68.9), {"3": (55.0, 100, 45.2, 64.4), "1": (70.0, 100, 60.4, 78.1)}),
            "dev": _split((90.0, 50, 78.6, 95.7), {"3": (90.0, 25, 69.9, 97.2), "1": (90.0, 25, 69.9, 97.2)}),
        },
    },
]
QUOTAS = [
    {"strategy": "paper", "budget": 10, "weights": {"1": 0.4, "3": 0.6}, "quotas": {"3": 6, "1": 4}},
    None,
]


def test_summary_matches_the_contract():
    summary = summarize("demo", "abc123def456", METRICS, QUOTAS, [0, 9], SEED_TABLE)
    assert summary == {
        "run": "demo",
        "config_hash": "abc123def456",
        "iterations": [
            {
                "iteration": 0,
                "overall": 50.0,
                "per_type": {"Scene Understanding": 60.0, "Instance Attributes": 40.0},
                "n_eval": 200,
                "samples_added": 0,
                "quotas": {"Scene Understanding": 4, "Instance Attributes": 6},
            },
            {
                "iteration": 1,
                "overall": 62.5,
                "per_type": {"Scene Understanding": 70.0, "Instance Attributes": 55.0},
                "n_eval": 200,
                "samples_added": 9,
                "quotas": {},
            },
        ],
    }
    assert json.loads(json.dumps(summary)) == summary


def _with_circular(metrics: dict, overall: tuple, per_type: dict[str, tuple]) -> dict:
    test = {**metrics["splits"]["test"], "circular": _split(overall, per_type)}
    return {**metrics, "splits": {**metrics["splits"], "test": test}}


# The same runs on a benchmark with circular copies: 50 questions in 4 rotations each (200 items).
CIRCULAR = [
    _with_circular(METRICS[0], (30.0, 50, 19.1, 43.8), {"3": (20.0, 25, 8.9, 39.1), "1": (40.0, 25, 23.4, 59.3)}),
    _with_circular(METRICS[1], (44.0, 50, 31.2, 57.7), {"3": (36.0, 25, 20.2, 55.5), "1": (52.0, 25, 33.5, 69.9)}),
]


def test_circular_eval_is_reported_beside_plain_accuracy(tmp_path):
    summary = summarize("mmb", "abc123def456", CIRCULAR, QUOTAS, [0, 9], SEED_TABLE)
    plain = summarize("mmb", "abc123def456", METRICS, QUOTAS, [0, 9], SEED_TABLE)
    assert [{k: v for k, v in it.items() if k != "circular"} for it in summary["iterations"]] == plain["iterations"]
    assert [it["circular"] for it in summary["iterations"]] == [
        {"overall": 30.0, "per_type": {"Scene Understanding": 40.0, "Instance Attributes": 20.0}, "n_eval": 50},
        {"overall": 44.0, "per_type": {"Scene Understanding": 52.0, "Instance Attributes": 36.0}, "n_eval": 50},
    ]
    path = tmp_path / "summary.md"
    write_summary_md(summary, CIRCULAR, path, SEED_TABLE)
    text = path.read_text(encoding="utf-8")
    plain_part, circular_part = text.split("## CircularEval")
    assert "| **overall** | **50.0 (43–57)** | **62.5 (56–69)** | **+12.5** |" in plain_part
    assert "over 50 questions, each asked once per rotation" in circular_part
    assert "| Scene Understanding | 40.0 (23–59) | 52.0 (34–70) | +12.0 |" in circular_part
    assert "| Instance Attributes | 20.0 (9–39) | 36.0 (20–56) | +16.0 |" in circular_part
    assert "| **overall** | **30.0 (19–44)** | **44.0 (31–58)** | **+14.0** |" in circular_part
    write_summary_md(plain, METRICS, path, SEED_TABLE)
    assert "CircularEval" not in path.read_text(encoding="utf-8")


def test_summary_rejects_mismatched_lengths_and_missing_test_split():
    with pytest.raises(ValueError, match="2 metrics, 1 quotas and 2 sample counts"):
        summarize("demo", "x", METRICS, QUOTAS[:1], [0, 9], SEED_TABLE)
    with pytest.raises(ValueError, match="iteration 0 lack splits/test"):
        summarize("demo", "x", [{"splits": {"dev": {}}}], [None], [0], SEED_TABLE)


def _dev_test(dev: float, test: float) -> dict:
    """An iteration's metrics.json with these overall dev and test accuracies (one type)."""
    return {"splits": {"dev": _split((dev, 600, 0, 100), {}), "test": _split((test, 600, 0, 100), {})}}


def test_the_recommended_model_is_the_best_on_dev_not_test(tmp_path):
    # Iteration 1 is best on dev, iteration 2 on test: the run recommends 1, never looking at test.
    metrics = [_dev_test(50.0, 50.0), _dev_test(58.0, 55.0), _dev_test(56.0, 61.0)]
    run_dir = tmp_path / "results" / "demo"
    models = [f"{run_dir}/iter_{i}/model" for i in range(3)]
    chosen = record(metrics, models, run_dir / "report" / "best.json")
    assert chosen == {
        "iteration": 1,
        "model": "iter_1/model",
        "dev_overall": 58.0,
        "test_overall": 55.0,
        "rule": f"The recommended model has {REASON}.",
    }
    assert json.loads((run_dir / "report" / "best.json").read_text()) == chosen
    summary = summarize("demo", "x", metrics, [QUOTAS[0], QUOTAS[0], None], [0, 9, 9], SEED_TABLE, best=chosen)
    assert summary["best"] == chosen
    write_summary_md(summary, metrics, tmp_path / "summary.md", SEED_TABLE)
    assert "Recommended model: iteration 1 (`iter_1/model`), dev 58.0 %, test 55.0 %: the highest" in (
        tmp_path / "summary.md"
    ).read_text(encoding="utf-8")
    assert "best" not in summarize("demo", "x", metrics, [QUOTAS[0], QUOTAS[0], None], [0, 9, 9], SEED_TABLE)


def test_a_tie_on_dev_goes_to_the_earlier_iteration():
    assert choose([50.0, 60.0, 60.0]) == 1
    assert choose([50.0, 60.0, 60.0 + TIE_POINTS / 2]) == 1  # within the tolerance: a tie
    assert choose([50.0, 60.0, 60.0 + 2 * TIE_POINTS]) == 2  # beyond it: the later one is better
    assert choose([60.0, 59.0, 60.0]) == 0
    assert choose([70.0]) == 0


def test_the_recommended_model_is_named_in_the_run_or_as_given_outside_it(tmp_path):
    run_dir = "results/demo"
    assert model_path("results/demo/iter_2/model", run_dir) == "iter_2/model"
    assert model_path("results/demo/start_model", run_dir) == "start_model"
    assert model_path("results/base/iter_0/model", run_dir) == "results/base/iter_0/model"  # base_run's
    assert model_path("/models/llava-v1.5-7b", run_dir) == "/models/llava-v1.5-7b"  # student.base
    metrics = [_dev_test(70.0, 60.0), _dev_test(65.0, 66.0)]
    assert recommend(metrics, ["/models/llava-v1.5-7b", "results/demo/iter_1/model"], run_dir)["model"] == (
        "/models/llava-v1.5-7b"
    )
    no_dev = [{"splits": {"test": m["splits"]["test"]}} for m in metrics]
    assert recommend(no_dev, ["a", "b"], run_dir) is None
    assert record(no_dev, ["a", "b"], tmp_path / "report" / "best.json") is None
    assert (tmp_path / "report" / "best.json").read_text() == "null\n"


def test_config_hash_is_canonical_sha256_prefix():
    assert config_hash({"b": 1, "a": [1, 2]}) == config_hash({"a": [1, 2], "b": 1})
    assert config_hash({"b": 1, "a": [1, 2]}) == hashlib.sha256(b'{"a":[1,2],"b":1}').hexdigest()[:12]
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_summary_md_has_the_accuracy_quota_and_sample_tables(tmp_path):
    summary = summarize("demo", "abc123def456", METRICS, QUOTAS, [0, 9], SEED_TABLE)
    path = tmp_path / "summary.md"
    write_summary_md(summary, METRICS, path, SEED_TABLE, plans=[QUOTAS[0]])
    text = path.read_text(encoding="utf-8")
    assert "| type | iter 0 | iter 1 | change |" in text
    assert "| Scene Understanding | 60.0 (50–69) | 70.0 (60–78) | +10.0 |" in text
    assert "| Instance Attributes | 40.0 (31–50) | 55.0 (45–64) | +15.0 |" in text
    assert "| **overall** | **50.0 (43–57)** | **62.5 (56–69)** | **+12.5** |" in text
    assert "Iteration 1 (paper, 10 samples), from iteration 0's dev split. weight = the dev error rate" in text
    assert "| Scene Understanding | 10.0 (n 25) | – | – | – | 0.400 | 0.40 | 4 | – |" in text  # dev, not test
    assert "| Instance Attributes | 10.0 (n 25) | – | – | – | 0.600 | 0.60 | 6 | – |" in text
    assert "| 1 | 9 |" in text
    assert text.index("Scene Understanding") < text.index("Instance Attributes")  # type-table order


def test_summary_md_counts_rejections_by_reason_per_iteration(tmp_path):
    summary = summarize("demo", "abc123def456", METRICS, QUOTAS, [0, 9], SEED_TABLE)
    rejected = [[{"reason": "contamination"}, {"reason": "wrong_answer"}, {"reason": "contamination"}]]
    path = tmp_path / "summary.md"
    write_summary_md(summary, METRICS, path, SEED_TABLE, rejected=rejected)
    text = path.read_text(encoding="utf-8")
    assert "| reason | meaning | iter 1 |" in text
    assert "| contamination | the question and options nearly repeat a benchmark item | 2 |" in text
    assert "| wrong_answer | the answer contradicts the image's annotation | 1 |" in text
    write_summary_md(summary, METRICS, path, SEED_TABLE, rejected=[[]])
    assert "Validation rejected nothing." in path.read_text(encoding="utf-8")


def test_accuracy_png_is_written(tmp_path):
    path = tmp_path / "accuracy.png"
    plot_accuracy(summarize("demo", "x", METRICS, QUOTAS, [0, 9], SEED_TABLE), METRICS, path, SEED_TABLE)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 600 and image.height > 300
        assert len(set(image.convert("L").getdata())) > 10  # lines and text, not a blank canvas


def test_mcnemar_exact_p_on_the_discordant_items():
    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(5, 5) == 1.0
    assert mcnemar_p(0, 10) == pytest.approx(2 / 1024) == mcnemar_p(10, 0)  # rises and falls alike
    assert mcnemar_p(1, 9) == pytest.approx(2 * (1 + 10) / 1024)


def _predictions(verdicts: dict[int, list[bool]]) -> pl.DataFrame:
    """Test-split verdicts per type, and a dev item (which the paired test must leave out)."""
    rows = [
        {"id": f"{qtype}-{k}", "qtype": qtype, "split": "test", "correct": verdict}
        for qtype, per_item in verdicts.items()
        for k, verdict in enumerate(per_item)
    ]
    return pl.DataFrame([*rows, {"id": "dev-0", "qtype": 3, "split": "dev", "correct": True}])


# Type 3 (Instance Attributes): 9 of 10 items turn right, one turns wrong; type 1: 1 each way.
BEFORE = _predictions({3: [False] * 9 + [True], 1: [True, False]})
AFTER = _predictions({3: [True] * 9 + [False], 1: [False, True]})


def test_changes_are_paired_on_the_test_items_overall_and_per_type():
    changes = paired_changes(BEFORE, AFTER, SEED_TABLE)
    assert changes["per_type"]["Instance Attributes"] == {"points": 80.0, "n": 10, "p": round(2 * 11 / 1024, 4)}
    assert changes["per_type"]["Scene Understanding"] == {"points": 0.0, "n": 2, "p": 1.0}
    assert changes["overall"]["n"] == 12 and changes["overall"]["points"] == pytest.approx(100 * 8 / 12, abs=0.01)
    falls = paired_changes(AFTER, BEFORE, SEED_TABLE)["per_type"]["Instance Attributes"]
    assert falls["points"] == -80.0 and falls["p"] == changes["per_type"]["Instance Attributes"]["p"]


def test_summary_carries_each_change_with_its_n_and_p_and_the_md_bolds_the_significant(tmp_path):
    changes = paired_changes(BEFORE, AFTER, SEED_TABLE)
    summary = summarize("demo", "x", METRICS, QUOTAS, [0, 9], SEED_TABLE, changes=[None, changes])
    assert "changes" not in summary["iterations"][0] and summary["iterations"][1]["changes"] == changes
    path = tmp_path / "summary.md"
    write_summary_md(summary, METRICS, path, SEED_TABLE)
    text = path.read_text(encoding="utf-8")
    assert "| type | 0 → 1 |" in text
    assert "| Instance Attributes | **+80.0 points (n 10, p 0.021)** |" in text
    assert "| Scene Understanding | +0.0 points (n 2, p 1) |" in text


def test_a_rounds_spend_is_set_against_the_points_it_bought_per_type_and_overall(tmp_path):
    changes = paired_changes(BEFORE, AFTER, SEED_TABLE)
    accepted = [{"qtype": 3}] * 8 + [{"qtype": 1}] * 2
    value = round_value(changes, 0.8, accepted, SEED_TABLE)
    assert value["per_type"]["Instance Attributes"] == {
        "usd": 0.64,
        "points": 80.0,
        "p": 0.0215,
        "usd_per_point": 0.008,
    }
    assert value["per_type"]["Scene Understanding"]["usd_per_point"] is None  # no rise bought nothing
    assert "gpu_hours" not in value["overall"]  # a CPU round: unknown
    log = {"device": "cuda", "seconds": 1800.0, "processes": 4}
    on_gpus = round_value(changes, 0.8, accepted, SEED_TABLE, training_gpu_hours(log))
    assert on_gpus["per_type"]["Instance Attributes"]["gpu_hours"] == 1.6  # 2 GPU hours x 8 of 10 samples
    assert on_gpus["per_type"]["Instance Attributes"]["gpu_hours_per_point"] == 0.02
    assert training_gpu_hours({**log, "device": "cpu"}) is None and training_gpu_hours(None) is None
    assert per_point_text(on_gpus["per_type"]["Instance Attributes"]) == "0.0080 USD a point, 0.02 GPU h a point"
    assert value["overall"]["usd_per_point"] == pytest.approx(0.8 / changes["overall"]["points"], abs=1e-4)
    summary = summarize("demo", "x", METRICS, QUOTAS, [0, 10], SEED_TABLE, changes=[None, changes])
    path = tmp_path / "summary.md"
    teacher = {"1": {"teacher": "openai", "calls": 10, "cost_usd": 0.8}}
    write_summary_md(summary, METRICS, path, SEED_TABLE, teacher_stats=teacher, accepted=[accepted])
    text = path.read_text(encoding="utf-8")
    assert "| Instance Attributes | 0.0080 USD a point |" in text
    assert "| Scene Understanding | 0.1600 USD, no rise |" in text


# A gain plan with what its weights were made of: type 1 not yet measured, type 3 learning slowly.
GAIN_PLAN = {
    "strategy": "gain",
    "budget": 10,
    "weights": {"1": 0.9, "3": 0.45},
    "quotas": {"1": 7, "3": 3},
    "terms": {
        "1": {"error_rate": 0.9, "gain_per_1000": None, "learnability": 1.0},
        "3": {"error_rate": 0.9, "gain_per_1000": 4.0, "learnability": 0.5},
    },
}


def test_a_gain_plan_shows_its_terms_and_a_type_fed_twice_without_a_significant_rise_is_a_plateau():
    rows = plan_rows(GAIN_PLAN, {"3": {"acc": 10.0, "n": 25}}, [{"qtype": 3}] * 2, SEED_TABLE)
    assert rows[1] | {"share": round(rows[1]["share"], 2)} == {
        "type": "Instance Attributes",
        "dev": {"acc": 10.0, "n": 25},
        "terms": GAIN_PLAN["terms"]["3"],
        "weight": 0.45,
        "share": 0.33,
        "quota": 3,
        "accepted": 2,
    }
    assert terms_text(rows[0]["terms"]) == ("0.90", "not yet measured", "1.00")
    flat, rose = {"points": 1.0, "n": 25, "p": 0.6}, {"points": 12.0, "n": 25, "p": 0.01}
    quotas = [None, {"A": 5, "B": 5, "C": 0}, {"A": 5, "B": 5, "C": 5}, {"A": 5, "B": 0, "C": 5}]
    changes = [None, {"per_type": {"A": flat, "B": rose}}, {"per_type": {"A": flat, "B": flat}}, None]
    assert plateaus(quotas, changes) == {2: ["A"]}  # B rose in iteration 1; 3 is not measured yet


def test_summary_md_explains_a_gain_plan_with_its_terms_and_the_samples_accepted(tmp_path):
    summary = summarize("demo", "x", METRICS, [GAIN_PLAN, None], [0, 9], SEED_TABLE)
    path = tmp_path / "summary.md"
    write_summary_md(
        summary, METRICS, path, SEED_TABLE, plans=[GAIN_PLAN], accepted=[[{"qtype": 1}] * 6 + [{"qtype": 3}] * 3]
    )
    text = path.read_text(encoding="utf-8")
    assert "weight = (dev error rate x learnability) ^ (1 / temperature)" in text
    assert "| Scene Understanding | 10.0 (n 25) | 0.90 | not yet measured | 1.00 | 0.900 | 0.67 | 7 | 6 |" in text
    assert "| Instance Attributes | 10.0 (n 25) | 0.90 | +4.0 | 0.50 | 0.450 | 0.33 | 3 | 3 |" in text


def _run(tmp_path, types=SEED_TABLE) -> Run:
    """Two iterations: a plan from iteration 0's dev split, one query anchored on a bad case, its
    accepted sample and a rejected twin, and a training loss curve."""
    for folder, colour in (("pool", (255, 0, 0)), ("benchmark", (0, 0, 255))):
        (tmp_path / folder / "images").mkdir(parents=True)
        Image.new("RGB", (32, 32), colour).save(tmp_path / folder / "images" / "a.png")
    case = {
        "image": "images/a.png",
        "question": "What <colour> is it?",
        "options": ["red", "green", "blue", "grey"],
        "answer": "C",
        "qtype": 3,
    }
    bad_cases = [{**case, "prediction": "A"}]
    queries = [
        {"query_id": "q1", "qtype": 3, "image": "images/a.png", "anchor": "neighbour", "in_context": [case]},
        {"query_id": "q2", "qtype": 3, "image": "images/missing.png", "anchor": "random", "in_context": [case]},
    ]
    accepted = [
        {
            "query_id": "q1",
            "instruction": "Which colour is the square?",
            "options": ["red", "blue", "green", "grey"],
            "choice_answer": "A",
            "answer": "It is red.",
            "qtype": 3,
        }
    ]
    rejected = [{"query_id": "q2", "reason": "wrong_answer", "content": "The answer is <b>D</b>."}]
    generation = {
        "teacher": "openai",
        "model": "gpt-x",
        "calls": 2,
        "prompt_tokens": 90,
        "completion_tokens": 30,
        "cost_usd": 0.0125,
    }
    train_log = {
        "new_samples": 1,
        "replay_samples": 0,
        "records": 1,
        "loss": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}],
    }
    iterations = [
        Iteration(0, METRICS[0], bad_cases),
        Iteration(
            1,
            METRICS[1],
            [],
            plan=QUOTAS[0],
            queries=queries,
            accepted=accepted,
            rejected=rejected,
            generation=generation,
            train_log=train_log,
        ),
    ]
    timings = [{"job": "train_1", "seconds": 12.0, "max_rss_mb": 800.0}]
    return Run("demo", "abc123def456", iterations, tmp_path / "pool", tmp_path / "benchmark", timings, types)


def test_the_page_names_the_recommended_model_in_its_overview(tmp_path):
    run = _run(tmp_path)
    chosen = recommend(METRICS, [str(tmp_path / "iter_0" / "model"), str(tmp_path / "iter_1" / "model")], tmp_path)
    plot_accuracy(summarize("demo", "x", METRICS, QUOTAS, [0, 1], SEED_TABLE), METRICS, tmp_path / "a.png", SEED_TABLE)
    write_page(run, tmp_path / "a.png", tmp_path / "index.html", best=chosen)
    text = (tmp_path / "index.html").read_text(encoding="utf-8")
    overview = text[text.index('<section id="overview">') : text.index("</section>")]
    assert (
        '<strong>Recommended model</strong>: iteration <a href="#iteration-1">1</a> (<code>iter_1/model</code>), '
        "dev 90.0 %, test 62.5 %: the highest overall accuracy on the dev split" in overview
    )
    write_page(run, tmp_path / "a.png", tmp_path / "index.html")
    assert "Recommended model" not in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_the_page_tells_each_iteration_from_plan_to_evaluation(tmp_path):
    run = _run(tmp_path)
    summary = summarize("demo", "abc123def456", METRICS, QUOTAS, [0, 1], SEED_TABLE)
    plot_accuracy(summary, METRICS, tmp_path / "accuracy.png", SEED_TABLE)
    write_page(run, tmp_path / "accuracy.png", tmp_path / "index.html", config_text="budget: 10\n")
    text = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<h3>The plan (paper, 10 samples) from iteration 0's dev split</h3>" in text
    plan = text[text.index('<table class="plan">') :]
    assert (
        '<tr><td>Instance Attributes</td><td>10.0 <span class="ci">n 25</span></td><td>–</td><td>–</td><td>–</td>'
        "<td>0.600</td><td>0.60</td><td>6</td><td>1</td></tr>" in plan  # the paper's rule records no terms
    )
    assert "weight = the dev error rate (the paper&#x27;s rule)." in text
    assert "What &lt;colour&gt; is it?" in text  # the bad case, escaped
    assert '<li class="answer">blue</li>' in text and '<li class="predicted">red</li>' in text
    assert "Which colour is the square?" in text and '<p class="accepted">accepted</p>' in text
    assert '<span class="reason">wrong_answer</span>' in text and "The answer is &lt;b&gt;D&lt;/b&gt;." in text
    assert (  # counts by reason and type (the rejected reply's query is of type 3), with the reason's meaning
        '<tr><th>reason</th><th>meaning</th><th>Instance Attributes</th><th>all</th></tr><tr><td><span class="reason">'
        "wrong_answer</span></td><td>the answer contradicts the image&#x27;s annotation</td><td>1</td><td>1</td></tr>"
        in text
    )
    assert "(image images/missing.png is missing)" in text  # a missing image is named, the page still written
    assert text.count('<svg class="loss"') == 1
    assert "The teacher: 0.0125 USD in all" in text and "<td>train</td><td>1</td><td>12</td>" in text
    assert text.count("data:image/png;base64,") == 3  # the plot, the bad case's image and the sample's
    assert "budget: 10" in text
    assert (
        '<nav class="contents"><a href="#overview">What the loop did</a> &middot; <a href="#iteration-0">Iteration 0</a>'
        ' &middot; <a href="#iteration-1">Iteration 1</a></nav>' in text
    )


def test_the_page_gives_every_change_its_paired_test_and_links_the_significant_to_their_iteration(tmp_path):
    run = _run(tmp_path)
    run.iterations[1].changes = paired_changes(BEFORE, AFTER, SEED_TABLE)
    plot_accuracy(
        summarize("demo", "x", METRICS, QUOTAS, [0, 1], SEED_TABLE), METRICS, tmp_path / "accuracy.png", SEED_TABLE
    )
    write_page(run, tmp_path / "accuracy.png", tmp_path / "index.html")
    text = (tmp_path / "index.html").read_text(encoding="utf-8")
    overview = text[: text.index('<section class="iteration"')]
    assert (
        '<li class="rise">Instance Attributes: +80.0 points (n 10, p 0.021) from iteration 0 to '
        '<a href="#iteration-1">1</a></li>' in overview
    )
    assert "Scene Understanding:" not in overview  # p 1: listed on the iteration, not flagged
    evaluation = text[text.index('<table class="evaluation">') :]
    assert '<td class="rise">+80.0 points (n 10, p 0.021)</td>' in evaluation
    cost = overview[overview.index('<table class="value">') :]
    assert "<tr><td>Instance Attributes</td><td>0.0002 USD a point</td></tr>" in cost  # 0.0125 USD / 80 points
    assert "<td>+0.0 points (n 2, p 1)</td>" in evaluation


def test_the_page_shows_circular_eval_beside_plain_accuracy(tmp_path):
    run = _run(tmp_path)
    run.iterations[0].metrics, run.iterations[1].metrics = CIRCULAR
    summary = summarize("mmb", "abc123def456", CIRCULAR, QUOTAS, [0, 1], SEED_TABLE)
    plot_accuracy(summary, CIRCULAR, tmp_path / "accuracy.png", SEED_TABLE)
    write_page(run, tmp_path / "accuracy.png", tmp_path / "index.html")
    text = (tmp_path / "index.html").read_text(encoding="utf-8")
    circular = text[text.index("<h3>CircularEval: 50 questions") :]
    assert '<tr><td><b>overall</b></td><td>30.0 <span class="ci">19&ndash;44</span></td>' in circular
    assert '<td>52.0 <span class="ci">34&ndash;70</span></td>' in circular
    assert text[: text.index("<h3>CircularEval")].count('<table class="accuracy">') == 1  # the plain one, first


def test_a_benchmark_read_with_its_own_categories_names_them_in_the_summary_and_on_the_page(tmp_path):
    types = run_types({"benchmark": {"kind": "generic"}, "qtypes": ["Charts", "Tables", "Diagrams"]})
    run = _run(tmp_path, types)  # types 1 and 3 measured; 3 planned, taught and rejected
    changes = paired_changes(BEFORE, AFTER, types)
    summary = summarize("own", "x", METRICS, QUOTAS, [0, 1], types, changes=[None, changes])
    assert summary["iterations"][0]["per_type"] == {"Charts": 60.0, "Diagrams": 40.0}
    assert summary["iterations"][0]["quotas"] == {"Charts": 4, "Diagrams": 6}
    write_summary_md(
        summary, METRICS, tmp_path / "summary.md", types, plans=[QUOTAS[0]], rejected=[run.iterations[1].rejected]
    )
    plot_accuracy(summary, METRICS, tmp_path / "accuracy.png", types)
    run.iterations[1].changes = changes
    write_page(run, tmp_path / "accuracy.png", tmp_path / "index.html")
    markdown = (tmp_path / "summary.md").read_text(encoding="utf-8")
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "| Charts | 60.0 (50–69) | 70.0 (60–78) | +10.0 |" in markdown
    assert "| Diagrams | **+80.0 points (n 10, p 0.021)** |" in markdown
    assert "| Diagrams | 10.0 (n 25) | – | – | – | 0.600 | 0.60 | 6 | – |" in markdown
    assert "<h4>Diagrams</h4>" in page and "<th>Diagrams</th><th>all</th>" in page
    assert '<li class="rise">Diagrams: +80.0 points' in page
    assert not any(name in text for name in SEED_TYPES.values() for text in (markdown, page))


def _entry(acc: float) -> dict:
    return {"acc": acc, "ci_low": max(0.0, acc - 9), "ci_high": min(100.0, acc + 9)}


def test_small_multiples_draw_one_panel_per_type_with_each_runs_accuracy_and_samples():
    types = [f"type {k}" for k in range(7)]
    runs = {
        "paper": [{name: _entry(40.0) for name in types}, {name: _entry(100.0) for name in types[1:]}],
        "gain": [{name: _entry(40.0) for name in types}, {name: _entry(55.0) for name in types}],
    }
    samples = {"paper": [{}, {name: 10 * k for k, name in enumerate(types)}], "gain": [{}, {"type 0": 30}]}
    figure, panels = type_panels_figure(runs, samples, types)
    assert len(panels) == 7 and panel_grid(7) == (2, 4)  # one spare cell of eight, removed
    assert [accuracy.get_title() for accuracy, _ in panels] == types
    assert len(figure.axes) == 2 * 7  # each panel's accuracy axes and its samples axes, nothing else
    accuracy, bars = panels[3]
    paper, gain = accuracy.containers  # an errorbar per run
    assert list(paper.lines[0].get_ydata()) == [40.0, 100.0] and list(gain.lines[0].get_ydata()) == [40.0, 55.0]
    assert not paper.lines[0].get_clip_on()  # the marker at 100 drawn whole
    assert accuracy.get_ylim() == (0.0, 100.0) and bars.get_ylim()[1] >= 60  # one scale: the most samples, 60
    assert [bar.get_height() for bar in bars.patches] == [0, 30, 0, 0]  # paper: 0 then 30; gain: 0 then none
    assert list(panels[0][0].containers[0].lines[0].get_ydata()) == [40.0]  # type 0 missing in paper's 1: skipped
    assert all(float(tick).is_integer() for tick in accuracy.get_xticks())
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["paper", "gain"]
    alone, _ = type_panels_figure({"paper": runs["paper"]}, {"paper": samples["paper"]}, types[:3])
    assert not alone.legends  # one run: nothing to tell apart
    for count in range(1, 21):
        rows, columns = panel_grid(count)
        assert columns <= 5 and rows * columns >= count > (rows - 1) * columns


def test_the_page_shows_a_panel_per_type_under_the_accuracy_figure(tmp_path):
    run = _run(tmp_path)
    summary = summarize("demo", "x", METRICS, QUOTAS, [0, 1], SEED_TABLE)
    plot_accuracy(summary, METRICS, tmp_path / "accuracy.png", SEED_TABLE)
    plot_run_types(run, tmp_path / "types.png")
    with Image.open(tmp_path / "types.png") as image:
        assert image.format == "PNG" and image.width > image.height  # two types side by side
    write_page(run, tmp_path / "accuracy.png", tmp_path / "index.html", panels=tmp_path / "types.png")
    text = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert text.index('<img class="accuracy"') < text.index('<img class="types"') < text.index("<h3>The teacher")


def test_the_loss_curve_has_axes_with_ticks_and_names():
    svg = loss_svg([(1, 2.0), (2, 1.5), (10, 0.75)])
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]*)</text>', svg)
    assert ticks == ["1", "10", "0.75", "1.38", "2"]  # steps at the ends, the loss at its ends and middle
    assert re.findall(r'<text class="axis"[^>]*>([^<]*)</text>', svg) == ["step", "loss"]
    assert svg.count("<line ") == 2 + len(ticks) and 'width="360"' in svg  # two axes, a mark per tick; small


def test_rejections_show_what_exactly_was_wrong_and_a_banner_only_where_faults_were_injected(tmp_path):
    run = _run(tmp_path)
    run.iterations[1].rejected[0]["detail"] = "short_answer 'red'; the annotation says 'blue'"
    plot_accuracy(
        summarize("demo", "x", METRICS, QUOTAS, [0, 1], SEED_TABLE), METRICS, tmp_path / "accuracy.png", SEED_TABLE
    )

    def page(fingerprints: dict | None) -> str:
        run.iterations[1].generation = {**run.iterations[1].generation, "system_fingerprints": fingerprints or {}}
        write_page(run, tmp_path / "accuracy.png", tmp_path / "index.html")
        return (tmp_path / "index.html").read_text(encoding="utf-8")

    text = page(None)
    detail = '<p class="detail">short_answer &#x27;red&#x27;; the annotation says &#x27;blue&#x27;</p>'
    assert text.count(detail) == 2  # on the sample's card, and as the reason's example
    assert 'class="banner"' not in text
    assert 'class="banner"' not in page({"fp_44709d6fcb": 2})  # a real endpoint's fingerprint
    assert 'class="banner"' not in page({FakeSettings().fingerprint: 2})  # the test server, no faults
    faulty = FakeSettings(fault_rate=0.1, faults=("markup", "malformed"))
    assert faulty.fingerprint == "fake_openai injected_faults=markup,malformed rate=0.1"
    text = page({faulty.fingerprint: 2})
    validation = text[text.index("<h3>Validation") :]
    assert validation.startswith(
        '<h3>Validation: 1 accepted, 1 rejected</h3><p class="banner"><b>Injected faults.</b> The teacher was the '
        "local test server (tools/fake_openai), which its replies say injected faults on purpose: markup, malformed, "
        "in 10% of the attempts."
    )
