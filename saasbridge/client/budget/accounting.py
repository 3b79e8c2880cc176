"""Per-query accounting: what an Athena query or an AppFlow flow run spent of the API budget."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

COUNTERS = ("requests", "retries", "throttled")


def usage_of(stats: Iterable[Mapping[str, int | float]]) -> dict[str, int]:
    """Requests, retries and 429s summed over client stats (`ClientStats.as_dict()`)."""
    totals = dict.fromkeys(COUNTERS, 0)
    for s in stats:
        for name in COUNTERS:
            totals[name] += int(s.get(name, 0))
    return totals


def usage_since(before: Mapping[str, int | float], after: Mapping[str, int | float]) -> dict[str, int]:
    """What one call added to a client's cumulative stats."""
    return {name: int(after.get(name, 0)) - int(before.get(name, 0)) for name in COUNTERS}
