"""Entry points of the openai teacher: generate (online or batch) and estimate."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from dataengine.openai_teacher.cache import ResponseCache, request_key
from dataengine.openai_teacher.prompts import load_prompts, render_messages
from dataengine.openai_teacher.runner import Outcome, Request, estimate_tokens, stop_on_signals
from dataengine.openai_teacher.settings import OpenAISettings
from dataengine.teacher import Generation

log = logging.getLogger("dataengine")


def _requests(queries: list[dict], settings: OpenAISettings, seed: int) -> tuple[list[str], dict[str, Request], str]:
    """The cache key of each query, one Request per distinct key, and the prompt version."""
    prompts = load_prompts(settings.prompts)
    sampling = {**settings.sampling, "seed": seed}
    keys, requests = [], {}
    for query in queries:
        messages = render_messages(prompts, query)
        key = request_key(settings.model, messages, sampling)
        keys.append(key)
        requests.setdefault(key, Request(key, messages, query))
    return keys, requests, prompts.version


def _cache(settings: OpenAISettings) -> ResponseCache:
    if settings.cache is None:
        raise ValueError("teacher.cache: the openai teacher needs a cache file (the workflow sets one per run)")
    return ResponseCache(settings.cache)


def generate_openai(queries: list[dict], teacher_cfg: dict, seed: int) -> Generation:
    """One response per query, with failures recorded, and the step's accounting (generation.json)."""
    from dataengine.openai_teacher.batch import BatchTeacher
    from dataengine.openai_teacher.runner import OnlineTeacher

    start = time.perf_counter()
    settings = OpenAISettings.from_config(teacher_cfg)
    for name in ("openai", "httpx", "httpx2", "httpcore"):  # a line per request would bury the job log
        logging.getLogger(name).setLevel(logging.WARNING)
    cache = _cache(settings)
    keys, requests, version = _requests(queries, settings, seed)
    outcomes = {}
    for key in requests:
        hit = cache.get(key)
        if hit is not None:
            outcomes[key] = Outcome(hit.content)
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
    teacher = (BatchTeacher if settings.mode == "batch" else OnlineTeacher)(settings, cache, seed, stop)
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
    stats = {
        "teacher": "openai",
        "model": settings.model,
        "mode": settings.mode,
        "prompt_version": version,
        "queries": len(queries),
        "requests": len(requests),
        "cache_hits": len(requests) - len(misses),
        **teacher.tally.as_dict(),
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
        "openai teacher: %d calls, %d replies, %d + %d tokens, %.4f USD, failures %s",
        stats["calls"],
        stats["replies"],
        stats["prompt_tokens"],
        stats["completion_tokens"],
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
    cache = _cache(settings)
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
