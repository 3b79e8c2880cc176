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
    """Expected duration of the next request: the slowest of the recent ones (cautious on purpose).

    Samples older than `max_age` seconds are forgotten: the estimate only changes when a request
    runs, so one very slow request must not keep a warm container from ever starting another."""

    def __init__(self, *, initial: float = 0.5, window: int = 8, max_age: float = 120.0,
                 clock=time.monotonic):
        self._lock = threading.Lock()
        self._recent: deque[tuple[float, float]] = deque(maxlen=window)  # (when, seconds)
        self._initial = initial
        self._max_age = max_age
        self._clock = clock

    def record(self, seconds: float) -> None:
        with self._lock:
            self._recent.append((self._clock(), max(0.0, seconds)))

    def estimate(self) -> float:
        with self._lock:
            horizon = self._clock() - self._max_age
            while self._recent and self._recent[0][0] < horizon:
                self._recent.popleft()
            return max(s for _, s in self._recent) if self._recent else self._initial
