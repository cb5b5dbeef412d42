"""The LLM choice extractor: the last fall-back of `generate` scoring, as in MMBench's evaluation.

When neither a letter nor a unique option text can be read from a generated reply
(`dataengine.eval.choices.extract_choice`), an LLM behind any OpenAI-compatible endpoint is shown the
question, the lettered options and the reply, and asked which option the reply chose: one letter, or
Z when it matches none (temperature 0). Its answer is parsed strictly, a lone letter among the item's
options, so anything else (Z, prose, an empty or cut reply) leaves the item `none`: unread, wrong.

Failures. The key is read when the extractor is built, before any scoring: the OpenAI API without its
variable set stops the job with a message naming the variable. An endpoint that still fails after the
client's retries (unreachable, timeouts, 429/5xx), or that rejects the request (bad key, unknown
model), stops the evaluation job with an `ExtractorError` naming the endpoint and the cause; nothing
is written, so no partial metrics survive, and Snakemake's retries rerun the job. Counting such items
as `none` instead would lower an iteration's accuracy for a reason that has nothing to do with the
model, and the loop steers its sampling by per-type accuracy.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from dataengine.core.formats import LETTERS
from dataengine.endpoint.client import LOCAL_KEY, openai_client, read_api_key

log = logging.getLogger("dataengine")

KINDS = ("none", "openai")
SECTION = "evaluate.extractor"
NONE_LETTER = "Z"
MAX_TOKENS = 4  # a letter; a longer answer is unusable anyway
# The answer, strictly: one upper-case letter, optionally "(B)" or "B."; whitespace around it.
_ANSWER = re.compile(r"\s*\(?([A-Z])\)?\.?\s*")

SYSTEM = (
    "You help match an answer with the options of a single-choice question. You are given a question, "
    "its lettered options and an answer, and you find which option the answer chose or is most similar "
    "to. If the answer's meaning differs significantly from every option, or it chooses none or several "
    f"of them, output {NONE_LETTER}. Output a single upper-case letter: one of the options' letters, or "
    f"{NONE_LETTER}; nothing else.\n\n"
    "Example 1:\n<question>What is the main object in the image?</question>\n"
    "<options>\nA. teddy bear\nB. rabbit\nC. cat\nD. dog\n</options>\n"
    "<reply>a cute teddy bear</reply>\nYour output: A\n\n"
    "Example 2:\n<question>What is the main object in the image?</question>\n"
    "<options>\nA. teddy bear\nB. rabbit\nC. cat\nD. dog\n</options>\n"
    "<reply>Spider</reply>\nYour output: Z"
)


class ExtractorError(RuntimeError):
    """The extractor's endpoint failed for good: the evaluation job stops with this message."""


def extraction_messages(question: str, options: Sequence[str], reply: str) -> list[dict]:
    """The chat messages asking which option `reply` chose (the fake server recognises the tags)."""
    lines = "\n".join(f"{letter}. {option}" for letter, option in zip(LETTERS, options))
    letters = ", ".join(LETTERS[: len(options)])
    user = (
        f"<question>{question}</question>\n<options>\n{lines}\n</options>\n<reply>{reply}</reply>\n"
        f"Answer with one of {letters} or {NONE_LETTER}.\nYour output:"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_letter(content: str | None, n_options: int) -> str | None:
    """The option letter the extractor answered, or None: Z, prose, nothing, a letter past the options."""
    match = _ANSWER.fullmatch(content or "")
    return match[1] if match and match[1] in LETTERS[:n_options] else None


class OpenAIExtractor:
    """An `Extractor` (question, options, reply) -> letter or None, asking an OpenAI-compatible endpoint.
    The key stays in the client; `stats` (what metrics.json records) holds the model and the count asked."""

    def __init__(self, model: str, base_url: str | None, api_key_env: str, timeout_s: float, max_retries: int):
        self.model = model
        self.base_url = base_url
        self.max_retries = max_retries
        self.asked = 0
        self._api_key = read_api_key(api_key_env, base_url, SECTION)
        try:
            self._client = openai_client(self._api_key, base_url, timeout_s, max_retries)
        except ImportError as error:
            raise ImportError(
                f"{SECTION}.kind: openai needs the openai package in the evaluation environment: {error}"
            ) from error

    def __repr__(self) -> str:  # never the key
        return f"OpenAIExtractor(model={self.model!r}, base_url={self.base_url!r})"

    def __call__(self, question: str, options: Sequence[str], reply: str) -> str | None:
        import openai

        self.asked += 1
        try:
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=extraction_messages(question, options, reply),
                temperature=0,
                max_tokens=MAX_TOKENS,
            )
        except (openai.APIError, ValueError) as error:  # ValueError: the SDK's JSONDecodeError on an HTML page
            raise ExtractorError(self._describe(error, question)) from None
        if not hasattr(completion, "choices"):  # a gateway's non-JSON page, read as text
            raise ExtractorError(self._describe(ValueError(f"not a chat completion: {completion!r:.200}"), question))
        content = completion.choices[0].message.content if completion.choices else None
        return parse_letter(content, len(options))

    def stats(self) -> dict:
        return {"kind": "openai", "model": self.model, "asked": self.asked}

    def _describe(self, error: Exception, question: str) -> str:
        """What failed, where and why, with the key masked in case the server echoed it."""
        import openai

        status = error.status_code if isinstance(error, openai.APIStatusError) else None
        # what the client retries: dropped connections, timeouts, 408/409/429/5xx
        retried = isinstance(error, openai.APIConnectionError) or status in (408, 409, 429) or (status or 0) >= 500
        cause = f" ({error.__cause__})" if error.__cause__ else ""
        message = (
            f"{SECTION}: {self.model} at {self.base_url or 'the OpenAI API'} failed on the reply to "
            f"{question[:80]!r}{f' after {self.max_retries} retries' if retried else ''}: "
            f"{type(error).__name__}: {error}{cause}. "
            "Evaluation stops rather than count unread replies as wrong; fix the endpoint (or set "
            f"{SECTION}.kind: none) and rerun."
        )
        return message if self._api_key == LOCAL_KEY else message.replace(self._api_key, "***")


def build_extractor(cfg: dict | None) -> OpenAIExtractor | None:
    """The extractor the `evaluate.extractor` section asks for, None for kind `none` (or no section).
    Built before scoring, so a missing key or package fails the job before the model is loaded."""
    kind = (cfg or {}).get("kind", "none")
    if kind == "none":
        return None
    if kind != "openai":
        raise ValueError(f"unknown {SECTION}.kind {kind!r}; known: {list(KINDS)}")
    extractor = OpenAIExtractor(
        model=cfg["model"],
        base_url=cfg.get("base_url"),
        api_key_env=cfg["api_key_env"],
        timeout_s=cfg["timeout_s"],
        max_retries=cfg["max_retries"],
    )
    log.info("choice extractor: %s at %s", extractor.model, extractor.base_url or "the OpenAI API")
    return extractor
