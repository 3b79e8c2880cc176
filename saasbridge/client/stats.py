"""ClientStats: thread-safe counters of what the client did, for metrics and plan checks."""

from __future__ import annotations

import threading


class ClientStats:
    """Requests sent, retries, 429s (and quota responses) seen, body bytes read, seconds waited."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.throttled = 0
        self.bytes = 0
        self.wait_seconds = 0.0

    def add(
        self,
        *,
        requests: int = 0,
        retries: int = 0,
        throttled: int = 0,
        bytes: int = 0,  # noqa: A002 - the metric's name
        wait_seconds: float = 0.0,
    ) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.throttled += throttled
            self.bytes += bytes
            self.wait_seconds += wait_seconds

    def as_dict(self) -> dict[str, int | float]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "throttled": self.throttled,
                "bytes": self.bytes,
                "wait_seconds": round(self.wait_seconds, 6),
            }

    def __repr__(self) -> str:
        return f"ClientStats({self.as_dict()})"
