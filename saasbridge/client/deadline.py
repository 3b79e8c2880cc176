"""Deadlines: how long a caller has left, and how long the next request is expected to take."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

Clock = Callable[[], float]


class Deadline:
    """A point in time after which no work may still be running.

    `margin` is kept free on top of the expected request time, so a request is started only
    when it can finish with room to spare.
    """

    def __init__(self, seconds_left: float, *, margin: float = 0.25, clock: Clock = time.monotonic):
        self._clock = clock
        self._end = clock() + float(seconds_left)
        self.margin = margin

    @classmethod
    def from_lambda_context(cls, context: Any, reserve: float = 2.0, **kwargs: Any) -> Deadline:
        """Lambda's remaining time minus `reserve` seconds for building and returning the response."""
        left = context.get_remaining_time_in_millis() / 1000.0 - reserve
        return cls(max(0.0, left), **kwargs)

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    @property
    def expired(self) -> bool:
        return self._clock() >= self._end

    def allows(self, seconds: float) -> bool:
        """Whether work expected to take `seconds` can start now and finish with the margin left."""
        return self.remaining() >= seconds + self.margin

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s, margin={self.margin}s)"


class RequestTimer:
    """Expected duration of the next request: the slowest of the recent ones (cautious on purpose)."""

    def __init__(self, *, initial: float = 0.5, window: int = 8):
        self._lock = threading.Lock()
        self._recent: deque[float] = deque(maxlen=window)
        self._initial = initial

    def record(self, seconds: float) -> None:
        with self._lock:
            self._recent.append(max(0.0, seconds))

    def estimate(self) -> float:
        with self._lock:
            return max(self._recent) if self._recent else self._initial
