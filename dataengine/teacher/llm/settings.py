"""The openai teacher's settings: the `teacher` config section as a typed object, and where its
prompts and its response cache are."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from dataengine.core.qtypes import SEED_TABLE, TypeTable
from dataengine.endpoint.client import read_api_key

REPO = Path(__file__).resolve().parents[3]  # the checkout: the shipped prompts are config/prompts
# The cache when teacher.cache is null: one per run folder (results/<run>/ is the run's RUN in common.smk).
DEFAULT_CACHE = "{run_dir}/cache/teacher.sqlite"


def cache_path(teacher_cfg: dict, run_dir: str) -> str:
    """The configured cache file, else the run's own. A shared path lets runs reuse each other's replies."""
    return teacher_cfg.get("cache") or DEFAULT_CACHE.format(run_dir=run_dir)


@dataclass(frozen=True)
class OpenAISettings:
    model: str
    base_url: str | None
    api_key_env: str
    prompts: Path
    types: TypeTable  # what the prompt file's types are named among: the run's known_types
    mode: str
    response_format: str
    temperature: float
    top_p: float
    max_tokens: int
    in_flight: int
    rpm: float
    tpm: float
    timeout_s: float
    max_retries: int
    content_retries: int
    cache: Path | None
    restart_damaged_cache: bool
    input_usd_per_1m: float
    output_usd_per_1m: float
    batch_discount: float
    budget_usd: float | None
    batch_poll_s: float
    batch_rounds: int

    @classmethod
    def from_config(cls, cfg: dict) -> OpenAISettings:
        """From the validated `teacher` section (schema defaults filled in); relative paths are taken
        from the working directory first, then from the repository (the shipped prompts)."""
        prices, batch = cfg.get("prices", {}), cfg.get("batch", {})
        values = {
            **{f.name: cfg[f.name] for f in fields(cls) if f.name in cfg},
            "prompts": resolve_prompts(cfg["prompts"]),
            "types": cfg.get("types", SEED_TABLE),
            "cache": Path(cfg["cache"]) if cfg.get("cache") else None,
            "input_usd_per_1m": prices.get("input_per_1m", 0.0),
            "output_usd_per_1m": prices.get("output_per_1m", 0.0),
            "batch_discount": prices.get("batch_discount", 0.5),
            "batch_poll_s": batch.get("poll_s", 30.0),
            "batch_rounds": batch.get("rounds", 3),
        }
        missing = [f.name for f in fields(cls) if f.name not in values]
        if missing:
            raise ValueError(f"teacher config (kind: openai): missing keys {missing}")
        return cls(**values)

    @property
    def sampling(self) -> dict:
        """Request parameters that change the reply: part of the cache key."""
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens}

    def api_key(self) -> str:
        """The key from the environment variable the config names; a local server gets a placeholder."""
        return read_api_key(self.api_key_env, self.base_url, "teacher")

    def cost(self, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
        usd = (prompt_tokens * self.input_usd_per_1m + completion_tokens * self.output_usd_per_1m) / 1e6
        return usd * (1.0 - self.batch_discount) if batch else usd


def resolve_prompts(path: str) -> Path:
    """A prompt folder: relative to the working directory if there, else to the repository (the shipped prompts)."""
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return REPO / candidate
