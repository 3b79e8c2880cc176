"""The in-process backend: a token bucket shared by the threads of one process (the default)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from saasbridge.client.budget.base import Budget

Clock = Callable[[], float]


class TokenBucket(Budget):
    """`rate` tokens per second, at most `burst` saved up. A request takes one token; when none is
    left it takes one on credit and is told how long to wait, so concurrent callers queue fairly."""

    def __init__(self, rate: float, burst: int, *, clock: Clock = time.monotonic):
        self.rate = max(float(rate), 1e-6)
        self.burst = max(1, int(burst))
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._last = clock()

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now

    def reserve(self, max_wait: float | None = None) -> float | None:
        with self._lock:
            self._refill(self._clock())
            wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate
            if max_wait is not None and wait > max_wait:
                return None
            self._tokens -= 1.0
            return wait

    def cap(self, tokens: float) -> None:
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, tokens)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, 1.0 - seconds * self.rate)

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill(self._clock())
            return self._tokens
