"""Entry points of the openai teacher: generate (online or batch) and estimate."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from dataengine.endpoint.cache import (
    RESTART_HINT,
    CacheDamaged,
    ResponseCache,
    cache_problem,
    request_key,
    set_aside,
)
from dataengine.endpoint.ledger import Ledger, ledger_path
from dataengine.teacher.base import Generation
from dataengine.teacher.llm.prompts import load_prompts, render_messages
from dataengine.teacher.llm.runner import Outcome, Request, estimate_tokens, stop_on_signals
from dataengine.teacher.llm.settings import OpenAISettings

log = logging.getLogger("dataengine")


def _requests(queries: list[dict], settings: OpenAISettings, seed: int) -> tuple[list[str], dict[str, Request], str]:
    """The cache key of each query, one Request per distinct key, and the prompt version."""
    prompts = load_prompts(settings.prompts, settings.types)
    sampling = {**settings.sampling, "seed": seed}
    keys, requests = [], {}
    for query in queries:
        messages = render_messages(prompts, query)
        key = request_key(settings.model, messages, sampling)
        keys.append(key)
        requests.setdefault(key, Request(key, messages, query))
    return keys, requests, prompts.version


def _cache_and_ledger(settings: OpenAISettings, step: str | None) -> tuple[ResponseCache, Ledger]:
    """The response cache, checked against its ledger first: an emptied, garbled or deleted cache stops
    the job naming the file, or with `restart_damaged_cache` is moved aside and started afresh."""
    if settings.cache is None:
        raise ValueError("teacher.cache: the openai teacher needs a cache file (the workflow sets one per run)")
    ledger = Ledger(ledger_path(settings.cache), step)
    problem = cache_problem(settings.cache, ledger.cached_replies())
    if problem:
        if not settings.restart_damaged_cache:
            raise CacheDamaged(f"response cache {settings.cache} {problem}; {RESTART_HINT}")
        moved = set_aside(settings.cache)
        ledger.cache_restarted(str(moved) if moved else None)
        log.warning("response cache %s %s; moved aside to %s, starting a new one", settings.cache, problem, moved)
    return ResponseCache(settings.cache), ledger


def generate_openai(queries: list[dict], teacher_cfg: dict, seed: int, step: str | None = None) -> Generation:
    """One response per query, with failures recorded, and the step's accounting (generation.json).

    `step` names the output this generation is for (the same across a step's attempts): the ledger's
    lines carry it, and the cost reported sums every attempt's. Without it, this call's alone."""
    from dataengine.teacher.llm.batch import BatchTeacher
    from dataengine.teacher.llm.runner import OnlineTeacher

    start = time.perf_counter()
    settings = OpenAISettings.from_config(teacher_cfg)
    for name in ("openai", "httpx", "httpx2", "httpcore"):  # a line per request would bury the job log
        logging.getLogger(name).setLevel(logging.WARNING)
    cache, ledger = _cache_and_ledger(settings, step)
    keys, requests, version = _requests(queries, settings, seed)
    outcomes = {}
    for key in requests:
        hit = cache.get(key)
        if hit is not None:
            outcomes[key] = Outcome(hit.content, cached=True)
    misses = [r for k, r in requests.items() if k not in outcomes]
    log.info(
        "openai teacher %s: %d queries, %d distinct requests, %d in the cache, %d to ask (%s mode, prompts %s)",
        settings.model,
        len(queries),
        len(requests),
        len(outcomes),
        len(misses),
        settings.mode,
        version,
    )
    stop = threading.Event()
    teacher = (BatchTeacher if settings.mode == "batch" else OnlineTeacher)(settings, cache, ledger, seed, stop)
    with stop_on_signals(stop):
        outcomes.update(teacher.run(misses))
    label = f"openai:{settings.model}"
    responses = []
    for query, key in zip(queries, keys):
        outcome = outcomes[key]
        record = {
            "query_id": query["query_id"],
            "teacher": label,
            "content": outcome.content,
            "prompt_version": version,
        }
        if outcome.failure:
            record["failure"] = outcome.failure
        responses.append(record)
    failures = Counter(r["failure"] for r in responses if "failure" in r)
    this_job = teacher.tally.as_dict()
    stats = {
        "teacher": "openai",
        "model": settings.model,
        "mode": settings.mode,
        "prompt_version": version,
        "queries": len(queries),
        "requests": len(requests),
        "cache_hits": sum(outcomes[key].cached for key in requests),
        **this_job,
        # What the step has paid, every attempt included (an interrupted job's replies too): the ledger's.
        **ledger.paid(),
        "this_job": {k: this_job[k] for k in ("replies", "prompt_tokens", "completion_tokens", "cost_usd")},
        "ledger": str(ledger.path),
        "failures": dict(sorted(failures.items())),
        "budget_usd": settings.budget_usd,
        "stopped_by_budget": failures["budget"] > 0,
        "seconds": round(time.perf_counter() - start, 2),
    }
    if stats["stopped_by_budget"]:
        log.warning(
            "budget of %s USD reached: %d queries not generated; rerun with a larger teacher.budget_usd "
            "to finish them (what is done is cached)",
            settings.budget_usd,
            failures["budget"],
        )
    log.info(
        "openai teacher: %d calls, %d replies, %d + %d tokens, %.4f USD (the step over %d attempts: %.4f USD), "
        "failures %s",
        stats["calls"],
        this_job["replies"],
        this_job["prompt_tokens"],
        this_job["completion_tokens"],
        this_job["cost_usd"],
        stats["attempts"],
        stats["cost_usd"],
        stats["failures"],
    )
    return Generation(responses, stats)


def estimate(queries: list[dict], teacher_cfg: dict, seed: int) -> dict:
    """Calls, tokens and worst-case cost of generating `queries`, before spending anything.

    Prompt tokens are counted as about 4 characters each; completions at their `max_tokens` cap, so the
    cost is an upper bound (content retries aside). Requests already in the cache cost nothing.
    """
    settings = OpenAISettings.from_config(teacher_cfg)
    _, requests, version = _requests(queries, settings, seed)
    cache, _ = _cache_and_ledger(settings, step=None)
    misses = [r for k, r in requests.items() if cache.get(k) is None]
    prompt_tokens = sum(estimate_tokens(r.messages) for r in misses)
    completion_tokens = len(misses) * settings.max_tokens
    return {
        "model": settings.model,
        "mode": settings.mode,
        "prompt_version": version,
        "queries": len(queries),
        "requests": len(requests),
        "cached": len(requests) - len(misses),
        "calls": len(misses),
        "prompt_tokens": prompt_tokens,
        "completion_tokens_max": completion_tokens,
        "cost_usd_max": round(settings.cost(prompt_tokens, completion_tokens, batch=settings.mode == "batch"), 4),
        "budget_usd": settings.budget_usd,
    }
