"""The openai teacher's online mode: many requests in flight, shared limits, retries, the cache.

One call per distinct request (identical queries share it), none for a request already in the cache:
right before each call the key is claimed in the cache, so a job sharing the cache that is asking
the same thing is waited for instead of paid twice. Every reply received goes to the ledger first.
Transport failures (429, 5xx, timeouts, dropped connections) are retried with backoff, honouring the
server's retry-after; content failures (malformed, schema-invalid, truncated, empty, inconsistent or
wrong replies) are asked again a few times, then recorded with their reason. Neither crashes the
step; a bad key, a missing model or a rejected request does, with the server's message.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field

import openai
from openai.types.chat import ChatCompletion

from dataengine.core.joblog import progress
from dataengine.endpoint.cache import HEARTBEAT_S, CachedReply, ResponseCache
from dataengine.endpoint.client import openai_client
from dataengine.endpoint.ledger import Ledger
from dataengine.endpoint.limiter import Budget, RateLimiter
from dataengine.teacher import validate
from dataengine.teacher.llm.settings import OpenAISettings

log = logging.getLogger("dataengine")

# Content failures the teacher detects before the shared validation sees the text.
TRUNCATED, EMPTY, REFUSED = "truncated", "empty", "refused"
# Failures of the endpoint, not of a reply (what _call gives up with; "http_<5xx>" besides).
TRANSPORT_FAILURES = frozenset({"rate_limited", "timeout", "connection", "bad_response"})


def is_transport_failure(reason: str | None) -> bool:
    """Whether a request failed because the endpoint did not answer, after its retries."""
    return reason in TRANSPORT_FAILURES or str(reason).startswith("http_")


# What the server is asked to constrain; the reply's full rules (sample.schema.json) are checked after.
REPLY_SCHEMA = {
    "type": "object",
    "properties": {
        "instruction": {"type": "string"},
        "answer": {"type": "string"},
        "short_answer": {"type": "string"},
        "options": {"type": "array", "items": {"type": "string"}},
        "choice_answer": {"type": "string", "enum": ["A", "B", "C", "D"]},
        "skip": {"type": "boolean"},
    },
    "required": ["instruction", "answer", "short_answer", "options", "choice_answer", "skip"],
    "additionalProperties": False,
}
RESPONSE_FORMATS = {
    "json_schema": {"type": "json_schema", "json_schema": {"name": "sample", "strict": True, "schema": REPLY_SCHEMA}},
    "json_object": {"type": "json_object"},
}
BACKOFF_S, BACKOFF_CAP_S = 0.5, 20.0
CLAIM_POLL_S = 0.2  # how often a request another job is asking for is looked for in the cache
MAX_RETRY_AFTER_S = 900.0  # a longer retry-after is a quota, not a hiccup: give up on the request


class TeacherError(RuntimeError):
    """A failure no retry can fix (bad key, unknown model, rejected request): the step stops."""


class _GiveUp(Exception):
    """Transport retries exhausted for one request; `reason` says which failure came last."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Request:
    """One distinct request and the first query that asked it (its annotation verifies the reply)."""

    key: str
    messages: list[dict]
    query: dict


@dataclass
class Outcome:
    content: str | None
    failure: str | None = None  # None: a validated reply, cached
    cached: bool = False  # found in the cache, not asked by this job


@dataclass
class Tally:
    """Counters shared by the worker threads; `as_dict` is what generation.json reports."""

    calls: int = 0  # HTTP requests sent, failed ones included
    replies: int = 0  # completions received (paid for)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    retries: Counter = field(default_factory=Counter)  # transport failures retried, by kind
    content_failures: Counter = field(default_factory=Counter)  # bad replies asked again or kept, by reason
    fingerprints: Counter = field(default_factory=Counter)  # replies by the server's system_fingerprint
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts) -> None:
        with self.lock:
            for name, value in counts.items():
                if isinstance(getattr(self, name), Counter):
                    getattr(self, name)[value] += 1
                else:
                    setattr(self, name, getattr(self, name) + value)

    def fingerprint(self, name: str | None) -> None:
        """Count a reply under its server's system_fingerprint (the backend configuration), if it says one."""
        if name:
            self.add(fingerprints=name)

    def as_dict(self) -> dict:
        return {
            "calls": self.calls,
            "replies": self.replies,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "retries": dict(sorted(self.retries.items())),
            "content_failures": dict(sorted(self.content_failures.items())),
            "system_fingerprints": dict(sorted(self.fingerprints.items())),
        }


def estimate_tokens(messages: list[dict]) -> int:
    """About 4 characters per token plus a few per message: the limiter's and the budget's estimate."""
    return sum(len(m["content"]) // 4 + 4 for m in messages)


def strip_fences(content: str) -> str:
    """```json ... ``` around an otherwise good reply is harmless: take what is inside."""
    text = content.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text[3:-3]
        return text[4:].strip() if text.startswith("json") else text.strip()
    return content


def check_completion(content: str | None, finish_reason: str | None, query: dict) -> tuple[str | None, str | None]:
    """(content, failure reason or None). A "skip" is a valid answer (cached, rejected downstream)."""
    if finish_reason == "length":
        return content, TRUNCATED
    if finish_reason == "content_filter":
        return content, REFUSED
    if not content or not content.strip():
        return content, EMPTY
    content = strip_fences(content)
    _, reason = validate.check_reply(content, query)
    return content, None if reason in (None, validate.UNSUPPORTED) else reason


def retry_after(error: openai.APIStatusError) -> float | None:
    """Seconds the server asked us to wait (retry-after-ms, then retry-after), if it said."""
    headers = error.response.headers
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        try:
            return float(headers[name]) * scale
        except (KeyError, TypeError, ValueError):
            continue
    return None


class TeacherMode:
    """What the online and batch modes share: settings, cache, ledger, the seeded sampling parameters,
    the stop flag, the tallies, the budget, the response format and a client built from the settings."""

    def __init__(
        self, settings: OpenAISettings, cache: ResponseCache, ledger: Ledger, seed: int, stop: threading.Event
    ):
        self.settings = settings
        self.cache = cache
        self.ledger = ledger
        self.sampling = {**settings.sampling, "seed": seed}
        self.stop = stop
        self.tally = Tally()
        self.budget = Budget(settings.budget_usd)
        self.format = "json_schema" if settings.response_format == "auto" else settings.response_format
        self._api_key = settings.api_key()

    def _client(self, max_retries: int) -> openai.OpenAI:
        return openai_client(self._api_key, self.settings.base_url, self.settings.timeout_s, max_retries)

    def _paid(
        self,
        request: Request,
        content: str | None,
        finish_reason: str | None,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float,
        batch: str | None = None,
    ) -> Outcome:
        """A reply received: into the ledger (it is billed whatever it says), then checked, and cached
        when it is good."""
        content, reason = check_completion(content, finish_reason, request.query)
        self.ledger.reply(
            request.key, self.settings.model, prompt_tokens, completion_tokens, cost, reason or "ok", batch=batch
        )
        if reason is None:
            self.cache.put(request.key, self.settings.model, CachedReply(content, prompt_tokens, completion_tokens))
            return Outcome(content)
        self.tally.add(content_failures=reason)
        return Outcome(content, reason)


class OnlineTeacher(TeacherMode):
    """Sends the requests that the cache cannot answer, `in_flight` at a time."""

    def __init__(
        self, settings: OpenAISettings, cache: ResponseCache, ledger: Ledger, seed: int, stop: threading.Event
    ):
        super().__init__(settings, cache, ledger, seed, stop)
        self.limiter = RateLimiter(settings.rpm, settings.tpm)
        self._format_lock = threading.Lock()
        self._rng = random.Random(seed)
        self.client = self._client(max_retries=0)  # retries are ours: shared 429 pauses, retry-after

    def run(self, requests: list[Request]) -> dict[str, Outcome]:
        """Outcome per request key. Stops issuing calls when `stop` is set or the budget is spent."""
        outcomes = {}
        finished = threading.Event()  # claims are kept alive until the last call in flight is back
        heartbeat = threading.Thread(target=self._heartbeat, args=(finished,), name="teacher-heartbeat", daemon=True)
        heartbeat.start()
        try:
            with ThreadPoolExecutor(max_workers=self.settings.in_flight, thread_name_prefix="teacher") as pool:
                futures = {pool.submit(self._one, r): r.key for r in requests}
                try:
                    for future in progress(as_completed(futures), desc="openai teacher", total=len(futures)):
                        outcomes[futures[future]] = future.result()
                except BaseException:  # a fatal error: the queued requests must not be sent
                    self.stop.set()
                    raise
        finally:
            finished.set()
            heartbeat.join()
        return outcomes

    def _heartbeat(self, finished: threading.Event) -> None:
        while not finished.wait(HEARTBEAT_S):
            self.cache.heartbeat()

    def _one(self, request: Request) -> Outcome:
        """The request's outcome: from the cache (right before the call: another job may have asked
        it meanwhile, or be asking it now), else asked under this job's claim on the key."""
        while (claimed := self.cache.claim(request.key)) is False:
            if self.stop.wait(CLAIM_POLL_S):
                return Outcome(None, "stopped")
        if claimed is not True:
            return Outcome(claimed.content, cached=True)
        try:
            return self._ask(request)
        finally:
            self.cache.release(request.key)  # a no-op once its reply is cached

    def _ask(self, request: Request) -> Outcome:
        outcome = Outcome(None, "not_attempted")
        for _ in range(self.settings.content_retries + 1):
            if self.stop.is_set():
                return Outcome(None, "stopped")
            tokens = estimate_tokens(request.messages)
            worst_case = self.settings.cost(tokens, self.settings.max_tokens)
            if not self.budget.reserve(worst_case):
                return Outcome(None, "budget")
            try:
                completion = self._call(request.messages, tokens + self.settings.max_tokens)
            except _GiveUp as err:
                self.budget.settle(worst_case, 0.0)
                return Outcome(None, err.reason)
            except BaseException:
                self.budget.settle(worst_case, 0.0)
                raise
            reply, cost = self._account(completion, tokens)
            self.budget.settle(worst_case, cost)
            finish_reason = _finish_reason(completion)
            outcome = self._paid(
                request, reply.content, finish_reason, reply.prompt_tokens, reply.completion_tokens, cost
            )
            if outcome.failure is None:
                return outcome
        return outcome

    def _account(self, completion, estimated_prompt_tokens: int) -> tuple[CachedReply, float]:
        choice = completion.choices[0] if completion.choices else None
        content = choice.message.content if choice is not None else None
        usage = completion.usage
        prompt = usage.prompt_tokens if usage and usage.prompt_tokens is not None else estimated_prompt_tokens
        output = usage.completion_tokens if usage and usage.completion_tokens is not None else len(content or "") // 4
        cost = self.settings.cost(prompt, output)
        self.tally.add(replies=1, prompt_tokens=prompt, completion_tokens=output, cost_usd=cost)
        self.tally.fingerprint(completion.system_fingerprint)
        return CachedReply(content or "", prompt, output), cost

    def _call(self, messages: list[dict], tokens: int):
        """One completion, retrying transport failures; _GiveUp when they persist."""
        reason = "not_attempted"
        attempt = 0
        while attempt <= self.settings.max_retries:
            time.sleep(self.limiter.reserve(tokens))
            response_format = self.format
            self.tally.add(calls=1)
            try:
                # The same request as chat.completions.create(), through the client's documented
                # generic post: create() walks the params through their TypedDicts first, which
                # costs about half the client's CPU per request (measured, 1.3 vs 2.7 ms).
                completion = self.client.post(
                    "/chat/completions",
                    body={
                        "model": self.settings.model,
                        "messages": messages,
                        "response_format": RESPONSE_FORMATS[response_format],
                        **self.sampling,
                    },
                    cast_to=ChatCompletion,
                )
                if not hasattr(completion, "choices"):  # a gateway's non-JSON page
                    raise ValueError("not a chat completion")
                return completion
            except openai.RateLimitError as err:
                reason, wait = "rate_limited", retry_after(err)
                if wait is not None and wait > MAX_RETRY_AFTER_S:
                    raise _GiveUp(reason) from None
                self.limiter.pause(wait if wait is not None else self._backoff(attempt))
            except openai.APITimeoutError:
                reason = "timeout"
                time.sleep(self._backoff(attempt))
            except openai.APIConnectionError:
                reason = "connection"
                time.sleep(self._backoff(attempt))
            except openai.APIStatusError as err:
                if self._unsupported_format(err, response_format):
                    continue  # not a failure of the request: ask again in json_object mode
                if err.status_code not in (408, 409) and err.status_code < 500:
                    self.stop.set()  # at once: the other workers send nothing more, however late the caller sees it
                    raise TeacherError(self._describe(err)) from None
                reason = f"http_{err.status_code}"
                time.sleep(retry_after(err) or self._backoff(attempt))
            except ValueError:  # the SDK's JSONDecodeError on an HTML error page, or the check above
                reason = "bad_response"
                time.sleep(self._backoff(attempt))
            self.tally.add(retries=reason)
            attempt += 1
        raise _GiveUp(reason)

    def _unsupported_format(self, err: openai.APIStatusError, used: str) -> bool:
        """In `auto` mode, a 400/422 about json_schema switches every request to json_object."""
        if self.settings.response_format != "auto" or used != "json_schema" or err.status_code not in (400, 422):
            return False
        if "json_schema" not in str(err.message) and "response_format" not in str(err.message):
            return False
        with self._format_lock:
            if self.format == "json_schema":
                log.warning("server rejects json_schema output (%s); falling back to json_object", err.message)
                self.format = "json_object"
        return True

    def _backoff(self, attempt: int) -> float:
        return min(BACKOFF_CAP_S, BACKOFF_S * 2**attempt) * (0.5 + self._rng.random() / 2)

    def _describe(self, err: openai.APIStatusError) -> str:
        """The server's message with the key masked, in case the server echoes it."""
        message = f"teacher request rejected by {self.settings.base_url or 'the OpenAI API'}: {err.message}"
        return message.replace(self._api_key, "***")


def _finish_reason(completion) -> str | None:
    return completion.choices[0].finish_reason if completion.choices else None


@contextmanager
def stop_on_signals(stop: threading.Event):
    """SIGTERM/SIGINT (a killed job, Ctrl-C) stop new calls; the ones in flight, already paid for,
    finish and go to the cache. A second signal acts at once. Only the main thread can install it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def handler(signum, frame):
        if received:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        received.append(signum)
        log.warning("signal %d: no new teacher calls; waiting for the ones in flight", signum)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
    if received:
        raise SystemExit(128 + received[0])
