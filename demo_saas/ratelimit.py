"""Per-tenant token buckets: `rate` requests per second, burst of `rate`."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the bucket is full again
    retry_after: int  # seconds to wait before retrying (0 when allowed)

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_seconds).encode()),
        ]


class RateLimiter:
    def __init__(self, rate: float, *, clock=time.monotonic):
        self.rate = float(rate)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, tenant: str) -> Decision:
        """Spend one token of `tenant`'s bucket if there is one."""
        capacity = self.rate
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(tenant, (capacity, now))
            tokens = min(capacity, tokens + (now - at) * self.rate)
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            self._buckets[tenant] = (tokens, now)
        retry_after = 0 if allowed else max(1, math.ceil((1 - tokens) / self.rate))
        return Decision(
            allowed=allowed,
            limit=math.floor(capacity),
            remaining=math.floor(tokens),
            reset_seconds=math.ceil((capacity - tokens) / self.rate),
            retry_after=retry_after,
        )
