"""Adaptive Bad-case Sampling: quotas, strategies, the query plan's invariants, similar anchoring."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dataengine.core.config import defaults
from dataengine.sampling.embedding import EMBEDDING_DIM, embed_images, top_k_similar
from dataengine.sampling.plan import Round, exact_quotas, gain_per_thousand, plan_iteration, plan_knobs, type_weights

SEED = 7


def _draw(path: Path, background: tuple, square: tuple, offset: int = 0) -> str:
    """A 64x64 scene: a background colour with one square; returns the path's last two parts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (64, 64), background)
    ImageDraw.Draw(image).rectangle([8 + offset, 8 + offset, 30 + offset, 30 + offset], fill=square)
    image.save(path)
    return f"{path.parent.name}/{path.name}"


def _random_colour(rng: np.random.Generator) -> tuple:
    return tuple(int(c) for c in rng.integers(0, 256, size=3))


def _metrics(dev_acc: dict[int, float]) -> dict:
    per_type = {str(t): {"acc": acc, "n": 20, "ci_low": 0.0, "ci_high": 100.0} for t, acc in dev_acc.items()}
    return {
        "scoring": "option_text",
        "splits": {"dev": {"per_type": per_type}, "test": {"per_type": per_type}},
    }


def _pool_record(pool_dir: Path, image_id: str, rng, n_objects: int = 2, qtypes=None) -> dict:
    image = _draw(pool_dir / "images" / f"{image_id}.png", _random_colour(rng), _random_colour(rng))
    objects = [{"category": "square", "color": None, "size": None, "box": [0.1, 0.1, 0.5, 0.5]}] * n_objects
    return {"image_id": image_id, "image": image, "objects": objects, "qtypes": qtypes, "captions": []}


def _bad_case(benchmark_dir: Path, case_id: str, qtype: int, rng) -> dict:
    image = _draw(benchmark_dir / "images" / f"{case_id}.png", _random_colour(rng), _random_colour(rng))
    return {
        "id": case_id,
        "qtype": qtype,
        "image": image,
        "question": f"question of {case_id}",
        "options": ["w", "x", "y", "z"],
        "answer": "B",
        "prediction": "A",
    }


@pytest.fixture
def scene(tmp_path):
    """Pool: 30 open images, 5 cluttered (11 objects), 5 only for type 1. Bad cases of types 1, 3, 5."""
    rng = np.random.default_rng(0)
    benchmark_dir, pool_dir = tmp_path / "benchmark", tmp_path / "pool"
    pool = [_pool_record(pool_dir, f"p{i:03d}", rng) for i in range(30)]
    pool += [_pool_record(pool_dir, f"p{i:03d}", rng, n_objects=11) for i in range(30, 35)]
    pool += [_pool_record(pool_dir, f"p{i:03d}", rng, qtypes=[1]) for i in range(35, 40)]
    bad_cases = [_bad_case(benchmark_dir, f"b1-{i}", 1, rng) for i in range(3)]
    bad_cases += [_bad_case(benchmark_dir, "b3-0", 3, rng), _bad_case(benchmark_dir, "b5-0", 5, rng)]
    return {
        "metrics": _metrics({1: 50.0, 3: 80.0, 9: 20.0}),
        "bad_cases": bad_cases,
        "pool": pool,
        "benchmark_dir": benchmark_dir,
        "pool_dir": pool_dir,
        "used_image_ids": {"p000", "p001"},
        "iteration": 2,
        "cfg": {"strategy": "paper", "budget": 12, "top_k": 5},
        "seed": SEED,
    }


# --- quotas and strategies ---------------------------------------------------------------------


def test_exact_quotas_gives_the_leftover_to_the_largest_remainder():
    # shares 3.5, 2.1, 1.4 -> floors 3, 2, 1; the one leftover goes to the .5
    assert exact_quotas({1: 0.5, 2: 0.3, 3: 0.2}, 7) == {1: 4, 2: 2, 3: 1}
    # shares 4, 1.6, 6.4 -> floors 4, 1, 6; leftover to type 3 (.6 beats .4)
    assert exact_quotas({1: 0.5, 3: 0.2, 9: 0.8}, 12) == {1: 4, 3: 2, 9: 6}


def test_exact_quotas_breaks_ties_by_type_id():
    assert exact_quotas({3: 1.0, 1: 1.0, 2: 1.0}, 10) == {1: 4, 2: 3, 3: 3}
    assert exact_quotas({3: 1.0, 1: 1.0, 2: 1.0}, 11) == {1: 4, 2: 4, 3: 3}
    # 1 - 0.7 is 0.30000000000000004 in floats: still a tie with 0.3, so the lower id wins
    assert exact_quotas({2: 0.3, 5: 1 - 0.7}, 1) == {2: 1, 5: 0}


def test_exact_quotas_all_zero_weights_fall_back_to_uniform():
    assert exact_quotas({1: 0.0, 2: 0.0, 3: 0.0}, 5) == {1: 2, 2: 2, 3: 1}


def test_exact_quotas_sum_to_budget_and_stay_within_one_of_the_share():
    rng = np.random.default_rng(1)
    for budget in (0, 1, 17, 1000):
        weights = {t: float(w) for t, w in zip(range(1, 10), rng.random(9))}
        quotas = exact_quotas(weights, budget)
        assert sum(quotas.values()) == budget
        total = sum(weights.values())
        for t, w in weights.items():
            assert abs(quotas[t] - w / total * budget) < 1


def test_exact_quotas_rejects_negative_weights():
    with pytest.raises(ValueError, match="negative"):
        exact_quotas({1: 0.5, 2: -0.1}, 10)


def test_paper_weights_are_error_rates_and_uniform_is_equal():
    assert type_weights({1: 80.0, 3: 25.0, 9: 100.0}, "paper", {}) == pytest.approx({1: 0.2, 3: 0.75, 9: 0.0})
    assert type_weights({1: 80.0, 3: 25.0}, "uniform", {}) == {1: 1.0, 3: 1.0}


def test_type_weights_rejects_unknown_strategy_listing_known_ones():
    with pytest.raises(ValueError, match=r"'temperature'.*\['gain', 'paper', 'uniform'\]"):
        type_weights({1: 50.0}, "temperature", {})


def test_type_weights_rejects_fractions_instead_of_percentages():
    with pytest.raises(ValueError, match="type 3"):
        type_weights({1: 50.0, 3: -0.5}, "paper", {})


# --- the gain rule ---------------------------------------------------------------------------
BEFORE = {1: 98.0, 2: 34.0, 4: 26.0, 5: 29.0}
PLANNED = {1: 2, 2: 330, 4: 338, 5: 330}  # the paper's split of 1,000 from BEFORE
AFTER = {1: 98.0, 2: 33.0, 4: 60.0, 5: 46.0}  # shape did not learn; location and counting did


def test_gain_rule_is_the_papers_before_any_round():
    assert type_weights(BEFORE, "gain", {}) == type_weights(BEFORE, "paper", {})


def test_gain_per_thousand_judges_only_types_given_enough_samples():
    gains = gain_per_thousand(AFTER, [Round(BEFORE, PLANNED)], {"min_samples": 100, "smoothing": 0.5})
    # location: +34 points on 338 samples; type 1 got 2 samples: not judged.
    assert gains == pytest.approx({2: -1000 / 330, 4: 34000 / 338, 5: 17000 / 330})


def test_gain_rule_stops_feeding_a_type_that_did_not_improve():
    weights = type_weights(AFTER, "gain", {}, [Round(BEFORE, PLANNED)])
    # Shape keeps the floor (0.1) of its error rate; the learners and type 1 (not judged) keep theirs.
    assert weights == pytest.approx({1: 0.02, 2: 0.67 * 0.1, 4: 0.40, 5: 0.54})
    quotas, paper = exact_quotas(weights, 1000), exact_quotas(type_weights(AFTER, "paper", {}), 1000)
    assert quotas[2] < paper[2] / 4 and quotas[4] > paper[4] and quotas[5] > paper[5]
    assert sum(quotas.values()) == 1000


def test_gain_rule_favours_the_faster_learners_when_every_type_learns():
    learning = {1: 98.0, 2: 45.0, 4: 60.0, 5: 46.0}  # per 1,000: 33.3, 100.6, 51.5; their median 51.5
    weights = type_weights(learning, "gain", {}, [Round(BEFORE, PLANNED)])
    assert weights == pytest.approx({1: 0.02, 2: 0.55 * (11000 / 330) / (17000 / 330), 4: 0.40, 5: 0.54})
    paper = exact_quotas(type_weights(learning, "paper", {}), 1000)
    quotas = exact_quotas(weights, 1000)
    assert quotas[4] > paper[4] and quotas[2] < paper[2]  # location learns fastest, shape slowest


def test_gain_rule_scales_by_gain_over_the_judged_types_median_and_at_least_min_gain():
    slow = {1: 98.0, 2: 34.0 + 3.3, 4: 60.0, 5: 46.0}  # +3.3 on 330 samples: 10 points per 1,000
    weights = type_weights(slow, "gain", {}, [Round(BEFORE, PLANNED)])
    assert weights[2] == pytest.approx((100 - 37.3) / 100 * 10.0 / (17000 / 330))
    # One type done fast does not make the others look slow: the median, not the mean, is the bar.
    fast = {1: 98.0, 2: 34.0 + 3.3, 4: 100.0, 5: 46.0}  # location +74 on 338: 219 per 1,000
    assert type_weights(fast, "gain", {"gain": {"max_share": 1.0}}, [Round(BEFORE, PLANNED)])[5] == pytest.approx(0.54)
    # Where every type gains little, the reference is min_gain: 5 points per 1,000 keep half the weight.
    crawling = {1: 98.0, 2: 35.65, 4: 27.69, 5: 30.65}
    weights = type_weights(crawling, "gain", {"gain": {"min_gain": 10.0}}, [Round(BEFORE, PLANNED)])
    assert weights[2] == pytest.approx((100 - 35.65) / 100 * 0.5) and weights[5] == pytest.approx(
        (100 - 30.65) / 100 * 0.5
    )


def test_gain_rule_caps_the_share_of_one_type_and_hands_on_the_rest():
    after = {1: 100.0, 2: 33.0, 4: 62.0, 5: 29.0}  # only location learned
    weights = type_weights(after, "gain", {"gain": {"max_share": 0.6}}, [Round(BEFORE, PLANNED)])
    # scores 0, 0.067, 0.38, 0.071: location's 73 % is cut to 60 %, the rest shared by score
    assert weights == pytest.approx({1: 0.0, 2: 0.4 * 0.067 / 0.138, 4: 0.6, 5: 0.4 * 0.071 / 0.138})


def test_gain_rule_smooths_over_rounds():
    """A type that learned in round 1 but not in round 2 keeps half its round-1 credit."""
    middle = {1: 98.0, 2: 34.0, 4: 60.0, 5: 46.0}
    history = [Round(BEFORE, PLANNED), Round(middle, {1: 0, 2: 300, 4: 400, 5: 300})]
    gains = gain_per_thousand(middle, history, {"min_samples": 100, "smoothing": 0.5})
    assert gains[4] == pytest.approx(0.5 * 34000 / 338 + 0.5 * 0.0)


def test_gain_rule_cap_below_an_even_split_gives_an_even_split():
    weights = type_weights(AFTER, "gain", {"gain": {"max_share": 0.1}}, [Round(BEFORE, PLANNED)])
    assert weights == pytest.approx({1: 0.25, 2: 0.25, 4: 0.25, 5: 0.25})


def test_only_the_gain_rule_depends_on_its_knobs():
    tuned = {"strategy": "paper", "budget": 500, "gain": {**defaults("sampling")["gain"], "floor": 0.3}}
    assert plan_knobs(tuned) == {**tuned, "gain": defaults("sampling")["gain"]}
    assert plan_knobs({**tuned, "strategy": "gain"}) == {**tuned, "strategy": "gain"}


# --- the plan ----------------------------------------------------------------------------------


def test_plan_quotas_follow_the_error_rates(scene):
    plan, queries = plan_iteration(**scene)
    assert plan == {
        "strategy": "paper",
        "budget": 12,
        "weights": pytest.approx({"1": 0.5, "3": 0.2, "9": 0.8}),
        "quotas": {"1": 4, "3": 2, "9": 6},
    }
    assert [q["query_id"] for q in queries] == [f"i2-q{n:05d}" for n in range(12)]
    assert [q["qtype"] for q in queries] == [1] * 4 + [3] * 2 + [9] * 6


def test_plan_quotas_follow_the_dev_split_not_the_test_split(scene):
    """The test split is what the report shows; were it to steer sampling, the loop would fit it."""
    dev, test = _metrics({1: 90.0, 3: 10.0})["splits"]["dev"], _metrics({1: 10.0, 3: 90.0})["splits"]["test"]
    plan, _ = plan_iteration(**{**scene, "metrics": {"splits": {"dev": dev, "test": test}}})
    assert plan["weights"] == pytest.approx({"1": 0.1, "3": 0.9}) and plan["quotas"] == {"1": 1, "3": 11}


def test_plan_uses_each_image_once_never_a_used_or_cluttered_one(scene):
    _, queries = plan_iteration(**scene)
    image_ids = [q["image_id"] for q in queries]
    assert len(set(image_ids)) == len(image_ids)
    assert not set(image_ids) & {"p000", "p001"}
    assert not set(image_ids) & {f"p{i:03d}" for i in range(30, 35)}
    pool_by_id = {r["image_id"]: r for r in scene["pool"]}
    for query in queries:
        assert query["annotation"] == pool_by_id[query["image_id"]]
        assert query["image"] == pool_by_id[query["image_id"]]["image"]


def test_plan_respects_the_types_an_image_supports(scene):
    scene["cfg"]["budget"] = 33  # every eligible image: 28 open + 5 that only type 1 may use
    _, queries = plan_iteration(**scene)
    type1_only = {f"p{i:03d}" for i in range(35, 40)}
    assert {q["image_id"] for q in queries} >= type1_only
    assert {q["qtype"] for q in queries if q["image_id"] in type1_only} == {1}


def test_plan_in_context_examples_are_bad_cases_of_the_same_type(scene):
    _, queries = plan_iteration(**scene)
    cases = {c["question"]: c for c in scene["bad_cases"]}
    counts = {1: 2, 3: 1, 9: 0}  # two when there are enough, fewer if fewer, none if none
    for query in queries:
        examples = query["in_context"]
        assert len(examples) == counts[query["qtype"]]
        assert len({e["question"] for e in examples}) == len(examples)
        for example in examples:
            case = cases[example["question"]]
            assert case["qtype"] == query["qtype"]
            assert example == {k: case[k] for k in ("question", "options", "answer", "image")}


def test_plan_anchors_a_share_on_similar_images(scene):
    _, queries = plan_iteration(**scene)
    anchors = {t: [q["anchor"] for q in queries if q["qtype"] == t] for t in (1, 3, 9)}
    assert anchors[1] == ["similar", "similar", "random", "random"]
    assert anchors[3] == ["similar", "random"]
    assert anchors[9] == ["random"] * 6  # no bad case of type 9: nothing to be similar to


def test_plan_is_deterministic_for_a_seed(scene):
    assert plan_iteration(**scene) == plan_iteration(**scene)
    _, other = plan_iteration(**{**scene, "seed": SEED + 1})
    _, same = plan_iteration(**scene)
    assert [q["image_id"] for q in other] != [q["image_id"] for q in same]


def test_similar_anchor_picks_the_near_identical_image(tmp_path):
    benchmark_dir, pool_dir = tmp_path / "benchmark", tmp_path / "pool"
    rng = np.random.default_rng(3)
    case = _bad_case(benchmark_dir, "b4-0", 4, rng)
    case["image"] = _draw(benchmark_dir / "images" / "b4-0.png", (200, 30, 30), (20, 20, 220))
    pool = [_pool_record(pool_dir, f"p{i:03d}", rng) for i in range(25)]
    twin = _draw(pool_dir / "images" / "twin.png", (198, 32, 30), (20, 22, 220), offset=1)
    pool.insert(11, {"image_id": "twin", "image": twin, "objects": [], "qtypes": None})
    plan, queries = plan_iteration(
        metrics=_metrics({4: 40.0}),
        bad_cases=[case],
        pool=pool,
        benchmark_dir=benchmark_dir,
        pool_dir=pool_dir,
        used_image_ids=set(),
        iteration=0,
        cfg={"budget": 1, "similar_share": 1.0, "top_k": 1},
        seed=SEED,
    )
    assert queries[0]["anchor"] == "similar"
    assert queries[0]["image_id"] == "twin"


def test_plan_shares_the_budget_as_if_excluded_types_were_absent(scene):
    plan, queries = plan_iteration(**{**scene, "cfg": {**scene["cfg"], "exclude": [9]}})
    assert plan["weights"] == pytest.approx({"1": 0.5, "3": 0.2, "9": 0.0})
    assert plan["quotas"] == {"1": 9, "3": 3, "9": 0}
    without, _ = plan_iteration(**{**scene, "metrics": _metrics({1: 50.0, 3: 80.0})})
    assert without["quotas"] == {"1": 9, "3": 3}
    assert {q["qtype"] for q in queries} == {1, 3}


def test_plan_spreads_a_budget_with_no_signal_over_the_types_not_excluded(scene):
    """Every sampled type perfect on dev: the even fallback must not hand the excluded type a share."""
    scene |= {"metrics": _metrics({1: 100.0, 3: 100.0, 9: 20.0}), "cfg": {**scene["cfg"], "exclude": [9]}}
    assert plan_iteration(**scene)[0]["quotas"] == {"1": 6, "3": 6, "9": 0}


def test_plan_raises_when_exclude_leaves_no_type(scene):
    scene["cfg"]["exclude"] = [1, 3, 9]
    with pytest.raises(ValueError, match=r"sampling.exclude \[1, 3, 9\] leaves none of the measured types"):
        plan_iteration(**scene)


def test_plan_raises_when_a_type_runs_out_of_images(scene):
    scene["cfg"]["budget"] = 100  # quotas 34, 13, 53; type 1 has 28 open + 5 own images
    with pytest.raises(ValueError, match=r"type 1: the plan needs 34 images, 33 pool"):
        plan_iteration(**scene)


def test_plan_raises_when_types_share_too_few_images(scene):
    # Each type alone fits (19 <= 33 and 19 <= 28), together they need more than the 33 images.
    scene["metrics"] = _metrics({1: 50.0, 9: 50.0})
    scene["cfg"]["budget"] = 38
    with pytest.raises(ValueError, match="other types' queries took the images"):
        plan_iteration(**scene)


def test_plan_names_the_bad_case_row_lacking_a_key(scene):
    del scene["bad_cases"][2]["options"]
    with pytest.raises(ValueError, match=r"bad case row 2 \(id 'b1-2'\) lacks \['options'\]"):
        plan_iteration(**scene)


def test_plan_needs_dev_metrics(scene):
    scene["metrics"] = {"splits": {"test": {}}}
    with pytest.raises(ValueError, match="splits/dev/per_type"):
        plan_iteration(**scene)


# --- embedding ---------------------------------------------------------------------------------


def test_embeddings_are_unit_rows_and_rank_a_near_copy_first(tmp_path):
    paths = [
        tmp_path / "a.png",
        tmp_path / "near_a.png",
        tmp_path / "other.png",
        tmp_path / "grey.png",
    ]
    _draw(paths[0], (200, 30, 30), (20, 20, 220))
    _draw(paths[1], (195, 35, 30), (25, 20, 215), offset=2)
    _draw(paths[2], (30, 200, 40), (240, 240, 10))
    Image.new("RGB", (64, 64), (128, 128, 128)).save(paths[3])  # flat: zero gradient, near-zero colour
    vectors = embed_images(paths)
    assert vectors.shape == (4, EMBEDDING_DIM) and vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(embed_images(paths[:1]), vectors[:1])
    assert top_k_similar(vectors[0], vectors[1:], k=1).tolist() == [[0]]


def test_top_k_similar_orders_restricts_and_breaks_ties_by_index():
    pool = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    query = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert top_k_similar(query, pool, k=3).tolist() == [[0, 2, 3], [1, 3, 0]]
    allowed = np.array([False, True, True, True])
    assert top_k_similar(query, pool, k=9, allowed=allowed).tolist() == [[2, 3, 1], [1, 3, 2]]


def test_embed_images_names_an_unreadable_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(FileNotFoundError, match="broken.png"):
        embed_images([bad])
