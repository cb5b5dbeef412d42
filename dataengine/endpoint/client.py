"""An OpenAI-compatible endpoint as the teacher, the choice extractor and the prompt optimiser use it:
the client, its key (read from the environment, never written anywhere), and which keys of an
endpoint's config section decide its replies."""

from __future__ import annotations

import os

from dataengine.core.config import runtime_keys

# Keys that change how replies are fetched, where they are kept or how they are accounted, never what
# they are: the generation rule leaves them out of its params, so changing them reruns nothing.
# The endpoint knobs that change how calls are made, not their replies (the schema's `x-runtime`).
RUNTIME_KEYS = runtime_keys("teacher") | runtime_keys("evaluate.extractor")
LOCAL_KEY = "EMPTY"  # what OpenAI-compatible local servers accept when no key is set


class EndpointError(RuntimeError):
    """The endpoint did not answer (connection refused, time-outs, server errors) after its retries:
    nothing to judge a prompt or a reply by, so the work stops rather than count it as a failure."""


def result_knobs(teacher_cfg: dict) -> dict:
    """The knobs that determine the replies (for Snakemake params), of the teacher or of any section
    naming an endpoint with the same keys (evaluate.extractor)."""
    return {k: v for k, v in teacher_cfg.items() if k not in RUNTIME_KEYS}


def read_api_key(api_key_env: str, base_url: str | None, section: str) -> str:
    """The key held by the environment variable `api_key_env` names; a local server (`base_url` set)
    gets a placeholder when it is unset, the OpenAI API an error naming the variable and the config
    key (`section`.api_key_env). Callers keep the key in memory only, never in params, logs or files."""
    key = os.environ.get(api_key_env, "")
    if key:
        return key
    if base_url is None:
        raise ValueError(
            f"{section}: environment variable {api_key_env} ({section}.api_key_env) is not set; "
            "the OpenAI API needs a key"
        )
    return LOCAL_KEY


def openai_client(api_key: str, base_url: str | None, timeout_s: float, max_retries: int):
    """An `openai.OpenAI` client for an endpoint of the config; `max_retries` are the SDK's own
    (429/5xx/timeouts/dropped connections, with backoff). openai is imported here, not at the top:
    the workflow reads this module's settings at parse time."""
    import openai

    return openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout_s)
