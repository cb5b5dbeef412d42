"""Shared limits across the teacher's concurrent requests: requests and tokens per minute, a pause
that every request honours after a 429, and a spending cap.

The client's own retries are per request and know nothing of each other; without one limiter, 32
threads that all hit a 429 come back together and hit it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

BURST_SECONDS = 10.0  # a bucket holds this many seconds' worth of its per-minute allowance


class RateLimiter:
    """Token buckets for requests and tokens per minute (0 = unlimited). `reserve` books capacity at
    once and says how long to wait before sending, so waiting threads never race for the same slot."""

    def __init__(self, rpm: float, tpm: float, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        # (rate per second, capacity, level, time of level) per limited quantity
        self._buckets = [
            [limit / 60.0, limit / 60.0 * BURST_SECONDS, limit / 60.0 * BURST_SECONDS, now] for limit in (rpm, tpm)
        ]
        self._paused_until = now

    def reserve(self, tokens: float) -> float:
        """Book one request of `tokens` tokens; returns the seconds to wait before sending it."""
        with self._lock:
            now = self._clock()
            wait = max(0.0, self._paused_until - now)
            for bucket, cost in zip(self._buckets, (1.0, float(tokens))):
                rate, capacity, level, since = bucket
                if rate <= 0:
                    continue
                level = min(capacity, level + rate * (now - since)) - cost
                bucket[2], bucket[3] = level, now
                wait = max(wait, -level / rate)
            return wait

    def pause(self, seconds: float) -> None:
        """Hold every request for `seconds` from now (a server's retry-after applies to all of us)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


class Budget:
    """A spending cap in USD (None = no cap). A call reserves its worst-case cost before it is sent
    and settles the real cost after, so concurrent calls can never overshoot the cap together."""

    def __init__(self, limit_usd: float | None):
        self.limit_usd = limit_usd
        self.spent = 0.0
        self._reserved = 0.0
        self._lock = threading.Lock()

    def reserve(self, cost: float) -> bool:
        with self._lock:
            if self.limit_usd is not None and self.spent + self._reserved + cost > self.limit_usd:
                return False
            self._reserved += cost
            return True

    def settle(self, reserved: float, cost: float) -> None:
        with self._lock:
            self._reserved -= reserved
            self.spent += cost
