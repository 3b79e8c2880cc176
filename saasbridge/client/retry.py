"""Retry policy: which answers are retried, and how long to wait before the next attempt."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from typing import Literal

from saasbridge.catalog.model import QuotaResponse, Retry
from saasbridge.client.http import Response

Verdict = Literal["ok", "throttled", "unavailable"]

RETRYABLE_5XX = frozenset({500, 502, 503, 504})
MAX_RETRY_AFTER = 900.0  # a sane cap on what an API may ask us to wait


def body_path(body: object, path: str | None) -> object:
    """The value at a dotted path (`error.code`, `0.errorCode`); None when absent."""
    if path is None or path == "":
        return body
    value = body
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now()
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


class RetryPolicy:
    """Capped exponential backoff with full jitter; `Retry-After` wins when the API sends it."""

    def __init__(self, config: Retry, *, rng: Callable[[], float] = random.random):
        self.config = config
        self._rng = rng

    @property
    def max_attempts(self) -> int:
        return max(1, self.config.max_attempts)

    def verdict(self, response: Response) -> Verdict:
        if response.status == 429 or self.is_quota(response):
            return "throttled"
        if response.status in RETRYABLE_5XX:
            return "unavailable"
        return "ok"

    def is_quota(self, response: Response) -> bool:
        return any(self._matches(q, response) for q in self.config.quota_responses)

    @staticmethod
    def _matches(quota: QuotaResponse, response: Response) -> bool:
        if response.status != quota.status:
            return False
        if quota.code is None:
            return True
        try:
            found = body_path(response.json(), quota.body_path)
        except Exception:
            return False
        return found == quota.code

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failed attempt (1-based), with full jitter."""
        ceiling = min(self.config.max_delay, self.config.base_delay * (2 ** (attempt - 1)))
        return self._rng() * ceiling

    def delay(self, attempt: int, response: Response | None) -> float:
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
        if retry_after is not None:
            return retry_after
        return self.backoff(attempt)
