"""Adaptive Bad-case Sampling: decide what the teacher writes next, from where the model fails.

One iteration, after the paper's released code (engine_pipeline/step2_query_construct.py):
a weight per question type from the dev-split accuracy (`paper`: the error rate), a quota per type,
and per query two bad cases of that type as in-context examples and a pool image, half of the time
one of the images most similar to the first bad case's image, else a random one. Each image is
used once, images with too many boxes are skipped. Unlike the paper, which draws every query's type
at random, quotas are exact (largest remainder), so the plan is reproducible and sums to the budget.
Types in `exclude` are measured but planned nothing: the rules share the budget as if they were absent.
"""

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from dataengine.core.config import check_section, deep_merge, defaults
from dataengine.sampling.embedding import Embed, embed_images, top_k_similar


def _knobs(cfg: Mapping) -> dict:
    """`cfg` over the schema's sampling defaults, checked against the schema: the one source of the
    knobs' defaults and allowed values (their meaning is in its descriptions)."""
    knobs = deep_merge(defaults("sampling"), dict(cfg))
    check_section("sampling", knobs, "sampling knobs")
    return knobs


@dataclass(frozen=True)
class Round:
    """An earlier iteration as the sampling rules see it: its dev accuracy (percent per type) and
    the quotas planned from it, i.e. the new data of each type the next iteration trained on."""

    dev_acc: dict[int, float]
    quotas: dict[int, int]


WeightFn = Callable[[dict[int, float], list[Round], Mapping], dict[int, float]]


def _error_rate_weights(dev_acc: dict[int, float], history: list[Round], cfg: Mapping) -> dict[int, float]:
    """The paper's weight: a type's error rate, so the weakest types get the most new data."""
    return {qtype: (100.0 - acc) / 100.0 for qtype, acc in dev_acc.items()}


def _uniform_weights(dev_acc: dict[int, float], history: list[Round], cfg: Mapping) -> dict[int, float]:
    """Equal weight: the baseline that shows what adaptivity adds."""
    return {qtype: 1.0 for qtype in dev_acc}


def gain_per_thousand(dev_acc: dict[int, float], history: list[Round], cfg: Mapping) -> dict[int, float]:
    """Dev-accuracy points each type gained per 1,000 of its new samples, smoothed over rounds
    (exponentially, the latest round weighing 1 - smoothing). Only rounds that gave a type at least
    `min_samples` samples judge it: a few samples buy no measurable change on a dev split, and
    drifts of types given next to nothing are forgetting, not learnability. Types never judged are
    absent."""
    accuracies = [past.dev_acc for past in history] + [dev_acc]
    gains: dict[int, float] = {}
    for before, after, past in zip(accuracies, accuracies[1:], history):
        for qtype in dev_acc.keys() & before.keys() & after.keys():
            samples = past.quotas.get(qtype, 0)
            if samples < cfg["min_samples"]:
                continue
            gain = (after[qtype] - before[qtype]) * 1000 / samples
            gains[qtype] = (
                gain if qtype not in gains else cfg["smoothing"] * gains[qtype] + (1 - cfg["smoothing"]) * gain
            )
    return gains


def _capped(weights: dict[int, float], max_share: float) -> dict[int, float]:
    """Shares with none above max_share, the excess handed to the other types in proportion to
    their weights (evenly where those are all zero); weights already within the cap are returned as
    they are, so the rule equals the paper's until the cap binds. A cap below 1 / (number of types)
    cannot hold; it is raised to that, an even split."""
    max_share = max(max_share, 1.0 / len(weights))
    total = sum(weights.values())
    if total == 0 or max(weights.values()) <= max_share * total:
        return weights
    capped: set[int] = set()
    while True:
        free = {qtype: w for qtype, w in weights.items() if qtype not in capped}
        left, free_total = 1.0 - max_share * len(capped), sum(free.values())
        shares = {qtype: max_share for qtype in capped} | {
            qtype: left * (w / free_total if free_total else 1 / len(free)) for qtype, w in free.items()
        }
        over = {qtype for qtype in free if shares[qtype] > max_share}
        if not over:
            return dict(sorted(shares.items()))
        capped |= over


def _gain_weights(dev_acc: dict[int, float], history: list[Round], cfg: Mapping) -> dict[int, float]:
    """Ours: the paper's error rate times learnability, a type's smoothed gain per sample over the
    median gain of the judged types (at least `min_gain`), between `floor` and 1. Relative, because a
    dev split of 150 items measures a round's gain to about +-20 points per 1,000 samples: a type that
    does not learn (gain ~0) stands out against types gaining ~100, not against a fixed threshold;
    the median, because one type that learned fast and is done (location: +63 points on 241 samples,
    measured) must not make every other type look slow. So a type that stopped improving on its data
    loses its share (the paper's rule keeps feeding it, as it stays the weakest) and, when every type
    learns, the slower learners cede part of theirs to the faster ones. Types not yet given enough
    data to judge keep the paper's weight, so the first plan is the paper's. A cap stops one type
    taking the whole budget.
    """
    knobs = cfg["gain"]
    terms = gain_terms(dev_acc, history, cfg)
    score = {q: (t["error_rate"] * t["learnability"]) ** (1.0 / knobs["temperature"]) for q, t in terms.items()}
    return _capped(score, knobs["max_share"])


def gain_terms(dev_acc: dict[int, float], history: list[Round], cfg: Mapping) -> dict[int, dict]:
    """Per type, what the gain rule multiplies: the dev error rate, the measured gain per 1,000 samples
    (None while the type has not had enough data to judge) and the learnability it gives."""
    knobs = cfg["gain"]
    error = _error_rate_weights(dev_acc, history, cfg)
    gains = gain_per_thousand(dev_acc, history, knobs)
    reference = max(knobs["min_gain"], statistics.median(gains.values())) if gains else knobs["min_gain"]
    return {
        qtype: {
            "error_rate": error[qtype],
            "gain_per_1000": gains.get(qtype),
            "learnability": min(max(gains.get(qtype, reference) / reference, knobs["floor"]), 1.0),
        }
        for qtype in error
    }


STRATEGIES: dict[str, WeightFn] = {"gain": _gain_weights, "paper": _error_rate_weights, "uniform": _uniform_weights}


def plan_knobs(sampling: Mapping) -> dict:
    """The sampling knobs a plan depends on: the `gain` section only matters to the gain rule, so
    other strategies get its schema defaults, and tuning the gain rule reruns only the gain arms."""
    if sampling["strategy"] == "gain":
        return dict(sampling)
    return {**sampling, "gain": defaults("sampling")["gain"]}


def type_weights(dev_acc: dict[int, float], strategy: str, cfg: Mapping, history: list[Round] = ()) -> dict[int, float]:
    """Unnormalised sampling weight per type from dev accuracies (percentages) by a named strategy;
    `history` holds the earlier iterations, oldest first (the gain rule reads it)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown sampling strategy {strategy!r}; known: {sorted(STRATEGIES)}")
    for qtype, acc in dev_acc.items():
        if not 0.0 <= acc <= 100.0:
            raise ValueError(f"dev accuracy of type {qtype} is {acc}; expected a percentage in [0, 100]")
    return STRATEGIES[strategy](dev_acc, list(history), _knobs(cfg))


def exact_quotas(weights: dict[int, float], budget: int) -> dict[int, int]:
    """Split `budget` over types in proportion to `weights` by largest remainder; sums exactly.

    Leftover units go to the largest fractional parts, ties to the lower type id. Weights are read
    as rationals (to 1e-9) so float noise such as 1 - 0.7 != 0.3 cannot break a tie. If every
    weight is zero (e.g. all types perfect on dev) there is no signal of weakness, but the budget
    must still be spent, so it is spread evenly instead of dividing by zero.
    """
    if not weights:
        raise ValueError("exact_quotas: no types to share the budget between")
    if budget < 0:
        raise ValueError(f"exact_quotas: budget must be >= 0, got {budget}")
    negative = {qtype: w for qtype, w in weights.items() if w < 0}
    if negative:
        raise ValueError(f"exact_quotas: negative weights {negative}")
    exact = {qtype: Fraction(w).limit_denominator(10**9) for qtype, w in weights.items()}
    total = sum(exact.values())
    if total == 0:
        exact, total = {qtype: Fraction(1) for qtype in weights}, Fraction(len(weights))
    shares = {qtype: w * budget / total for qtype, w in exact.items()}
    quotas = {qtype: int(share) for qtype, share in shares.items()}
    leftover = budget - sum(quotas.values())
    by_remainder = sorted(shares, key=lambda qtype: (-(shares[qtype] - quotas[qtype]), qtype))
    for qtype in by_remainder[:leftover]:
        quotas[qtype] += 1
    return dict(sorted(quotas.items()))


@dataclass(frozen=True)
class _Slot:
    """One planned query before its image is chosen."""

    qtype: int
    in_context: list[dict]
    similar: bool  # anchor on an image similar to in_context[0]'s image


def plan_iteration(
    metrics: dict,
    bad_cases: list[dict],
    pool: list[dict],
    benchmark_dir: Path,
    pool_dir: Path,
    used_image_ids: set[str],
    iteration: int,
    cfg: dict,
    seed: int,
    embed: Embed = embed_images,
    history: list[tuple[dict, dict]] = (),
) -> tuple[dict, list[dict]]:
    """Plan one iteration's generation queries; returns (quotas.json dict, query records).

    `iteration` is the iteration whose data the plan produces (it names the queries); `embed` ranks
    images for the similar anchors (dataengine/sampling/embedding.py); `history` holds the (metrics.json,
    quotas.json) of every earlier iteration, oldest first.
    """
    cfg = _knobs(cfg)
    rounds = [Round(_dev_accuracy(m), {int(k): int(v) for k, v in q["quotas"].items()}) for m, q in history]
    dev_acc = _dev_accuracy(metrics)
    excluded = dev_acc.keys() & set(cfg["exclude"])
    sampled = {qtype: acc for qtype, acc in dev_acc.items() if qtype not in excluded}
    if not sampled:
        raise ValueError(f"sampling.exclude {sorted(excluded)} leaves none of the measured types {sorted(dev_acc)}")
    weights = type_weights(sampled, cfg["strategy"], cfg, rounds)
    quotas = exact_quotas(weights, int(cfg["budget"]))
    weights |= dict.fromkeys(excluded, 0.0)
    quotas = dict(sorted((quotas | dict.fromkeys(excluded, 0)).items()))
    queries = plan_queries(
        quotas, bad_cases, pool, benchmark_dir, pool_dir, used_image_ids, iteration, cfg, seed, embed
    )
    plan = {
        "strategy": cfg["strategy"],
        "budget": int(cfg["budget"]),
        "weights": {str(qtype): float(w) for qtype, w in sorted(weights.items())},
        "quotas": {str(qtype): quota for qtype, quota in quotas.items()},
    }
    if cfg["strategy"] == "gain":  # what the weights were made of, for the report to explain them
        terms = gain_terms(sampled, rounds, cfg)
        plan["terms"] = {str(qtype): terms[qtype] for qtype in sorted(terms)}
    return plan, queries


def plan_queries(
    quotas: dict[int, int],
    bad_cases: list[dict],
    pool: list[dict],
    benchmark_dir: Path,
    pool_dir: Path,
    used_image_ids: set[str],
    iteration: int,
    cfg: dict,
    seed: int,
    embed: Embed = embed_images,
) -> list[dict]:
    """Query records for given quotas: in-context bad cases and a pool image for each.

    Also serves fixed quotas with no bad cases (the base model's seed set): every query is then
    anchored on a random image. The rng is seeded with (seed, iteration) so iterations of one run
    draw differently while the whole plan stays reproducible.
    """
    cfg = _knobs(cfg)
    rng = np.random.default_rng([seed, iteration])
    cases_by_type = _bad_cases_by_type(bad_cases, set(quotas))
    candidates = [r for r in _checked_pool(pool) if len(r["objects"]) <= cfg["max_boxes"]]
    candidates = [r for r in candidates if r["image_id"] not in used_image_ids]
    eligible = {
        qtype: np.array([r["qtypes"] is None or qtype in r["qtypes"] for r in candidates], dtype=bool)
        for qtype in quotas
    }
    for qtype, quota in quotas.items():
        if quota > eligible[qtype].sum():
            raise _pool_exhausted(
                qtype,
                quota,
                int(eligible[qtype].sum()),
                f"(qtypes allow it, at most {cfg['max_boxes']} objects, "
                f"not among the {len(used_image_ids)} used by earlier iterations)",
            )

    slots = []
    for qtype, quota in quotas.items():
        n_similar = int(cfg["similar_share"] * quota + 0.5)  # half up: the paper starts with "similar"
        cases = cases_by_type.get(qtype, [])
        for index in range(quota):
            drawn = rng.choice(len(cases), size=min(cfg["in_context"], len(cases)), replace=False)
            in_context = [cases[i] for i in drawn]
            slots.append(_Slot(qtype, in_context, similar=index < n_similar and bool(in_context)))

    chosen = _choose_images(slots, candidates, eligible, benchmark_dir, pool_dir, cfg, rng, embed)
    return [
        {
            "query_id": f"i{iteration}-q{n:05d}",
            "qtype": slot.qtype,
            "image_id": candidates[image]["image_id"],
            "image": candidates[image]["image"],
            "annotation": candidates[image],
            "in_context": [_example(case) for case in slot.in_context],
            "anchor": "similar" if slot.similar else "random",
        }
        for n, (slot, image) in enumerate(zip(slots, chosen))
    ]


def _choose_images(
    slots: list[_Slot],
    candidates: list[dict],
    eligible: dict[int, np.ndarray],
    benchmark_dir: Path,
    pool_dir: Path,
    cfg: Mapping,
    rng: np.random.Generator,
    embed: Embed,
) -> list[int]:
    """Candidate index per slot, each used once. Similar anchors and scarce types choose first,
    so the unconstrained random picks cannot take the images they need."""
    anchor_images = sorted({slot.in_context[0]["image"] for slot in slots if slot.similar})
    if anchor_images:
        pool_vecs = embed([Path(pool_dir) / r["image"] for r in candidates])
        anchor_paths = [Path(benchmark_dir) / image for image in anchor_images]
        anchor_vecs = dict(zip(anchor_images, embed(anchor_paths)))
    supply = {qtype: int(mask.sum()) for qtype, mask in eligible.items()}
    taken = np.zeros(len(candidates), dtype=bool)
    chosen = [-1] * len(slots)
    order = sorted(range(len(slots)), key=lambda i: (not slots[i].similar, supply[slots[i].qtype], i))
    for i in order:
        slot = slots[i]
        allowed = eligible[slot.qtype] & ~taken
        if not allowed.any():
            raise _pool_exhausted(
                slot.qtype,
                sum(s.qtype == slot.qtype for s in slots),
                supply[slot.qtype],
                "but the other types' queries took the images it shares with them",
            )
        if slot.similar:
            anchor = anchor_vecs[slot.in_context[0]["image"]]
            nearest = top_k_similar(anchor, pool_vecs, cfg["top_k"], allowed)[0]
            chosen[i] = int(nearest[rng.integers(len(nearest))])
        else:
            chosen[i] = int(rng.choice(np.flatnonzero(allowed)))
        taken[chosen[i]] = True
    return chosen


def _pool_exhausted(qtype: int, needed: int, available: int, why: str) -> ValueError:
    return ValueError(
        f"pool exhausted for type {qtype}: the plan needs {needed} images, {available} pool images are eligible {why}"
    )


def _example(case: Mapping) -> dict:
    """A bad case as an in-context example: what the teacher sees, nothing of the model's answer."""
    return {key: case[key] for key in ("question", "options", "answer", "image")}


def _dev_accuracy(metrics: Mapping) -> dict[int, float]:
    try:
        per_type = metrics["splits"]["dev"]["per_type"]
    except (KeyError, TypeError):
        raise ValueError("metrics has no splits/dev/per_type (see docs/contracts.md, metrics.json)") from None
    if not per_type:
        raise ValueError("metrics splits/dev/per_type is empty: no type to plan for")
    accuracy = {}
    for key, entry in per_type.items():
        if not key.isdigit():
            raise ValueError(f"metrics splits/dev/per_type/{key}: not a type id")
        if "acc" not in entry:
            raise ValueError(f"metrics splits/dev/per_type/{key} has no 'acc'")
        accuracy[int(key)] = float(entry["acc"])
    return dict(sorted(accuracy.items()))


def _bad_cases_by_type(bad_cases: list[dict], qtypes: set[int]) -> dict[int, list[dict]]:
    """Bad cases of the planned types, each type's list sorted by id so row order does not matter."""
    required = ("id", "qtype", "image", "question", "options", "answer")
    by_type: dict[int, list[dict]] = {}
    for row, case in enumerate(bad_cases):
        missing = [key for key in required if key not in case]
        if missing:
            raise ValueError(f"bad case row {row} (id {case.get('id')!r}) lacks {missing}")
        if case["qtype"] in qtypes:
            by_type.setdefault(case["qtype"], []).append(case)
    return {qtype: sorted(cases, key=lambda case: case["id"]) for qtype, cases in by_type.items()}


def _checked_pool(pool: list[dict]) -> list[dict]:
    required = ("image_id", "image", "objects", "qtypes")
    seen = set()
    for row, record in enumerate(pool):
        missing = [key for key in required if key not in record]
        if missing:
            raise ValueError(f"pool annotation row {row} (image_id {record.get('image_id')!r}) lacks {missing}")
        if record["image_id"] in seen:
            raise ValueError(f"pool annotation row {row}: duplicate image_id {record['image_id']!r}")
        seen.add(record["image_id"])
    return pool
