"""Adaptive Bad-case Sampling: decide what the teacher writes next, from where the model fails.

One iteration, after the paper's released code (engine_pipeline/step2_query_construct.py):
a weight per question type from the dev-split accuracy (`paper`: the error rate), a quota per type,
and per query two bad cases of that type as in-context examples and a pool image, half of the time
one of the images most similar to the first bad case's image, else a random one. Each image is
used once, images with too many boxes are skipped. Unlike the paper, which draws every query's type
at random, quotas are exact (largest remainder), so the plan is reproducible and sums to the budget.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from dataengine.config import check_section, deep_merge, defaults
from dataengine.embedding import Embed, embed_images, top_k_similar
from dataengine.qtypes import qtype_name


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


WeightFn = Callable[[dict[int, float], list[Round], Mapping[int, int], Mapping], dict[int, float]]


def _error_rate_weights(
    dev_acc: dict[int, float], history: list[Round], dev_items: Mapping[int, int], cfg: Mapping
) -> dict[int, float]:
    """The paper's weight: a type's error rate, so the weakest types get the most new data."""
    return {qtype: (100.0 - acc) / 100.0 for qtype, acc in dev_acc.items()}


def _uniform_weights(
    dev_acc: dict[int, float], history: list[Round], dev_items: Mapping[int, int], cfg: Mapping
) -> dict[int, float]:
    """Equal weight: the baseline that shows what adaptivity adds."""
    return {qtype: 1.0 for qtype in dev_acc}


def samples_given(history: list[Round]) -> dict[int, int]:
    """New samples each type has been given over the earlier rounds."""
    given: dict[int, int] = {}
    for past in history:
        for qtype, quota in past.quotas.items():
            given[qtype] = given.get(qtype, 0) + quota
    return given


def gain_per_thousand(
    dev_acc: dict[int, float], history: list[Round], dev_items: Mapping[int, int], cfg: Mapping
) -> dict[int, float]:
    """Dev-accuracy points each type gained per 1,000 of its new samples, counted cautiously: the
    points since the first round, less `z` standard errors of that difference, over every sample
    given since. Pooled, not averaged per round: a dev split measures a change to a few points
    whatever a round gave the type, so a round of 60 samples must not weigh as much as one of 260
    (+6 points on 60 samples once made an unlearnable type look learnable; measured), and pooled
    only the first and the latest measurement's errors remain. Less part of its standard error
    (binomial, from the dev items), because on 150 items a type at chance still measures within
    about +-15 points per 1,000 after 340 samples: a gain must show before it earns a learner's
    share. A type given fewer than `min_samples` samples is not judged (absent): a few samples buy
    no measurable change, and the drift of a type given next to nothing is forgetting."""
    given = samples_given(history)
    gains: dict[int, float] = {}
    for qtype, now in dev_acc.items():
        if given.get(qtype, 0) < cfg["min_samples"]:
            continue
        first = next(past.dev_acc[qtype] for past in history if qtype in past.dev_acc)
        stderr = (first * (100 - first) + now * (100 - now)) ** 0.5 / dev_items[qtype] ** 0.5
        gains[qtype] = (now - first - cfg["z"] * stderr) * 1000 / given[qtype]
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


def _weighted_median(values: dict[int, float], weights: dict[int, int]) -> float:
    """The least value that at least half the total weight lies at or below."""
    ordered = sorted(values, key=values.get)
    cumulative = np.cumsum([weights[key] for key in ordered])
    return values[ordered[int(np.searchsorted(cumulative, cumulative[-1] / 2))]]


def _gain_weights(
    dev_acc: dict[int, float], history: list[Round], dev_items: Mapping[int, int], cfg: Mapping
) -> dict[int, float]:
    """Ours: the paper's error rate times learnability, a type's cautious gain per sample over the
    reference gain (at least `min_gain`), between `floor` and 1. The reference is the median gain
    of the samples given so far, each sample bearing its type's gain: relative, because a type that
    does not learn (gain ~0) stands out against types gaining ~100, not against a fixed threshold
    that noise crosses; a median, because one type that learned fast and is done (location: +63
    points on 241 samples, measured) must not make every other type look slow; over samples, not
    types, so that types near their ceiling given a few samples do not set it. So a type that
    stopped improving on its data loses its share (the paper's rule keeps feeding it, as it stays
    the weakest) and, when every type learns, the slower learners cede part of theirs to the faster
    ones. Types not yet given enough data to judge keep the paper's weight, so the first plan is the
    paper's. A cap stops one type taking the whole budget.
    """
    knobs = cfg["gain"]
    error = _error_rate_weights(dev_acc, history, dev_items, cfg)
    gains = gain_per_thousand(dev_acc, history, dev_items, knobs)
    reference = knobs["min_gain"]
    if gains:
        given = samples_given(history)
        reference = max(reference, _weighted_median(gains, {qtype: given[qtype] for qtype in gains}))
    learn = {qtype: min(max(gains.get(qtype, reference) / reference, knobs["floor"]), 1.0) for qtype in error}
    score = {qtype: (error[qtype] * learn[qtype]) ** (1.0 / knobs["temperature"]) for qtype in error}
    return _capped(score, knobs["max_share"])


STRATEGIES: dict[str, WeightFn] = {"gain": _gain_weights, "paper": _error_rate_weights, "uniform": _uniform_weights}


def type_weights(
    dev_acc: dict[int, float],
    strategy: str,
    cfg: Mapping,
    history: list[Round] = (),
    dev_items: Mapping[int, int] | None = None,
) -> dict[int, float]:
    """Unnormalised sampling weight per type from dev accuracies (percentages) by a named strategy;
    `history` holds the earlier iterations, oldest first, and `dev_items` the dev items behind each
    type's accuracy (the gain rule reads both)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown sampling strategy {strategy!r}; known: {sorted(STRATEGIES)}")
    for qtype, acc in dev_acc.items():
        if not 0.0 <= acc <= 100.0:
            raise ValueError(f"dev accuracy of type {qtype} is {acc}; expected a percentage in [0, 100]")
    dev_items = dev_items or {}
    if history and not dev_acc.keys() <= dev_items.keys():
        raise ValueError(f"dev items unknown for types {sorted(dev_acc.keys() - dev_items.keys())}")
    return STRATEGIES[strategy](dev_acc, list(history), dev_items, _knobs(cfg))


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
    images for the similar anchors (dataengine/embedding.py); `history` holds the (metrics.json,
    quotas.json) of every earlier iteration, oldest first.
    """
    cfg = _knobs(cfg)
    rounds = [Round(_dev_split(m)[0], {int(k): int(v) for k, v in q["quotas"].items()}) for m, q in history]
    dev_acc, dev_items = _dev_split(metrics)
    weights = type_weights(dev_acc, cfg["strategy"], cfg, rounds, dev_items)
    quotas = exact_quotas(weights, int(cfg["budget"]))
    queries = plan_queries(
        quotas, bad_cases, pool, benchmark_dir, pool_dir, used_image_ids, iteration, cfg, seed, embed
    )
    plan = {
        "strategy": cfg["strategy"],
        "budget": int(cfg["budget"]),
        "weights": {str(qtype): float(w) for qtype, w in sorted(weights.items())},
        "quotas": {str(qtype): quota for qtype, quota in quotas.items()},
    }
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
        f"pool exhausted for type {qtype} ({qtype_name(qtype)}): the plan needs {needed} images, "
        f"{available} pool images are eligible {why}"
    )


def _example(case: Mapping) -> dict:
    """A bad case as an in-context example: what the teacher sees, nothing of the model's answer."""
    return {key: case[key] for key in ("question", "options", "answer", "image")}


def _dev_split(metrics: Mapping) -> tuple[dict[int, float], dict[int, int]]:
    """Accuracy (percent) and items per type on the dev split."""
    try:
        per_type = metrics["splits"]["dev"]["per_type"]
    except (KeyError, TypeError):
        raise ValueError("metrics has no splits/dev/per_type (see docs/contracts.md, metrics.json)") from None
    if not per_type:
        raise ValueError("metrics splits/dev/per_type is empty: no type to plan for")
    accuracy, items = {}, {}
    for key, entry in sorted(per_type.items(), key=lambda item: int(item[0])):
        qtype_name(key)  # an unknown type id fails here, naming it
        missing = [field for field in ("acc", "n") if field not in entry]
        if missing:
            raise ValueError(f"metrics splits/dev/per_type/{key} has no {missing}")
        accuracy[int(key)], items[int(key)] = float(entry["acc"]), int(entry["n"])
    return accuracy, items


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
            raise ValueError(
                f"pool annotation row {row} (image_id {record.get('image_id')!r}) lacks {missing}"
            )
        if record["image_id"] in seen:
            raise ValueError(f"pool annotation row {row}: duplicate image_id {record['image_id']!r}")
        seen.add(record["image_id"])
    return pool
