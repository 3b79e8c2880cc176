"""Fault injection that is reproducible for a seed: each tenant has its own seeded random stream,
consumed once per request that reaches the handler stage, in arrival order."""

from __future__ import annotations

import random
import threading
from typing import Literal

Fault = Literal["500", "503", "drop"]
FAULTS: tuple[Fault, ...] = ("500", "503", "drop")


class FaultInjector:
    def __init__(self, seed: int, fail_rate: float):
        self.seed = seed
        self.fail_rate = fail_rate
        self._streams: dict[str, random.Random] = {}
        self._lock = threading.Lock()

    def draw(self, tenant: str) -> Fault | None:
        """The fault (if any) for `tenant`'s next request; the three kinds are equally likely."""
        if self.fail_rate <= 0:
            return None
        with self._lock:
            stream = self._streams.setdefault(tenant, random.Random(f"faults:{self.seed}:{tenant}"))
            u = stream.random()
        if u >= self.fail_rate:
            return None
        return FAULTS[min(int(u / self.fail_rate * 3), 2)]
