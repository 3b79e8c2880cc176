"""What the client spent of the SaaS API: a client's running totals (`ClientStats`) and one
invocation's record (`Usage`, filled by a `UsageMeter` while it is open)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

COUNTS = ("requests", "retries", "throttled", "bytes", "wait_seconds")
BUDGET_COUNTS = ("requests", "retries", "throttled")  # what a query's or flow run's budget record sums


@dataclass
class Usage:
    """Requests sent, retries, 429s (and quota responses) seen, body bytes read, seconds waited."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    bytes: int = 0
    wait_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int | float]:
        with self._lock:
            values: dict[str, int | float] = {name: getattr(self, name) for name in COUNTS}
        values["wait_seconds"] = round(values["wait_seconds"], 6)
        return values

    def budget_counts(self) -> dict[str, int]:
        """The counts a query's or flow run's record in the shared budget table adds up."""
        values = self.as_dict()
        return {name: int(values[name]) for name in BUDGET_COUNTS}


class ClientStats(Usage):
    """A client's totals since it was built; every count also goes to the meters watching it."""

    def __init__(self) -> None:
        super().__init__()
        self._meters: list[Usage] = []

    def add(self, **counts: float) -> None:
        super().add(**counts)
        with self._lock:
            meters = list(self._meters)
        for usage in meters:
            usage.add(**counts)

    def watch(self, usage: Usage) -> None:
        with self._lock:
            self._meters.append(usage)

    def unwatch(self, usage: Usage) -> None:
        with self._lock:
            self._meters = [u for u in self._meters if u is not usage]

    def __repr__(self) -> str:
        return f"ClientStats({self.as_dict()})"


class UsageMeter:
    """One invocation's `Usage`: while open it counts what every client it watches does (from any
    thread, fresh or long-lived client alike); `with UsageMeter() as meter:` closes it."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.clients: list[Any] = []  # SaasClient (or a wrapper with .stats)
        self._closed = False

    def watch(self, client: Any) -> Any:
        """Count `client`'s requests from now until the meter closes; returns the client."""
        if not self._closed and all(c.stats is not client.stats for c in self.clients):
            client.stats.watch(self.usage)
            self.clients.append(client)
        return client

    def close(self) -> None:
        self._closed = True
        for client in self.clients:
            client.stats.unwatch(self.usage)

    def __enter__(self) -> UsageMeter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
