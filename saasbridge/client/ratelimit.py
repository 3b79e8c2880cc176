"""Client-side rate budget: a token bucket plus a concurrency cap, shared per API origin and
credential identity by every thread of the process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from saasbridge.catalog.model import RateBudget

Clock = Callable[[], float]
EPOCH_THRESHOLD = 1_000_000_000  # an X-RateLimit-Reset above this is a Unix time, not a delta


class TokenBucket:
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
        """Take a token; return the seconds to wait before using it. With `max_wait`, take
        nothing and return None when the wait would be longer."""
        with self._lock:
            self._refill(self._clock())
            wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate
            if max_wait is not None and wait > max_wait:
                return None
            self._tokens -= 1.0
            return wait

    def cap(self, tokens: float) -> None:
        """Hold at most `tokens` now (the API says this is all that is left)."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, tokens)

    def pause(self, seconds: float) -> None:
        """No token before `seconds` from now (the API asked us to wait)."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, 1.0 - seconds * self.rate)

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill(self._clock())
            return self._tokens


class RateLimiter:
    """The rate budget of one API origin + credential: token bucket and concurrency cap."""

    def __init__(self, budget: RateBudget, *, clock: Clock = time.monotonic, wall_clock: Clock = time.time):
        self.budget = budget
        self.bucket = TokenBucket(budget.requests_per_second, budget.burst, clock=clock)
        self.slots = threading.BoundedSemaphore(max(1, budget.max_concurrency))
        self._wall_clock = wall_clock

    def reserve(self, max_wait: float | None = None) -> float | None:
        return self.bucket.reserve(max_wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Slow down before the API says 429: follow X-RateLimit-Remaining / -Reset."""
        remaining = _number(headers.get("X-RateLimit-Remaining"))
        if remaining is None:
            return
        if remaining <= 0:
            reset = _number(headers.get("X-RateLimit-Reset"))
            if reset is not None:
                seconds = reset - self._wall_clock() if reset > EPOCH_THRESHOLD else reset
                self.bucket.pause(max(0.0, min(seconds, 900.0)))
                return
        self.bucket.cap(remaining)

    def throttled(self, retry_after: float | None) -> None:
        """A 429 (or quota answer) came back: every thread waits `retry_after`, if given."""
        if retry_after:
            self.bucket.pause(retry_after)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


_shared: dict[tuple[str, str], RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_rate_limiter(origin: str, identity: str, budget: RateBudget) -> RateLimiter:
    """The process-wide limiter for one API origin and credential identity (created on first use)."""
    with _shared_lock:
        limiter = _shared.get((origin, identity))
        if limiter is None or limiter.budget != budget:
            limiter = _shared[(origin, identity)] = RateLimiter(budget)
        return limiter
