"""Client-side rate budget: a token bucket plus a concurrency cap, shared per API origin and
credential identity by every thread of the process; the bucket is the one every process shares
through DynamoDB when a budget table is named (saasbridge.client.budget)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from saasbridge.catalog.model import RateBudget
from saasbridge.client.budget import Budget, TokenBucket, budget_table, make_budget
from saasbridge.client.budget.local import Clock

__all__ = ["Clock", "RateLimiter", "TokenBucket", "shared_rate_limiter"]

EPOCH_THRESHOLD = 1_000_000_000  # an X-RateLimit-Reset above this is a Unix time, not a delta


class RateLimiter:
    """The rate budget of one API origin + credential: token bucket and concurrency cap."""

    def __init__(
        self,
        budget: RateBudget,
        *,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        bucket: Budget | None = None,
    ):
        self.budget = budget
        self.bucket = bucket or TokenBucket(budget.requests_per_second, budget.burst, clock=clock)
        self.slots = threading.BoundedSemaphore(max(1, budget.max_concurrency))
        self._wall_clock = wall_clock

    def reserve(self, max_wait: float | None = None) -> float | None:
        return self.bucket.reserve(max_wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Slow down before the API says 429: follow X-RateLimit-Remaining / -Reset (and hand the
        API's quota headers to the budget)."""
        self.bucket.observe(headers)
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


_shared: dict[tuple[str, str, str | None, str | None], RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_rate_limiter(
    origin: str, identity: str, budget: RateBudget, *, catalog: str | None = None
) -> RateLimiter:
    """The process-wide limiter for one API origin and credential identity (created on first use);
    its bucket is the table's shared one when a budget table is named (see saasbridge.client.budget)."""
    table = budget_table(budget) if catalog else None
    key = (origin, identity, catalog if table else None, table)
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None or limiter.budget != budget:
            if limiter is not None:
                limiter.bucket.close()
            bucket = make_budget(budget, catalog=catalog, identity=identity, table=table)
            limiter = _shared[key] = RateLimiter(budget, bucket=bucket)
        return limiter
