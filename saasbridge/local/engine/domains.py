"""Per-column domains (the set of values a column may take) and their protocol value sets.

A `Domain` is a sorted list of non-overlapping ranges plus whether NULL is allowed, which is
what Athena's SortedRangeSet expresses. AND of two domains on one column is their
intersection, OR their union; anything else is left to the engine to filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from athena_connector import protocol
from athena_connector.protocol.values import from_epoch_millis


@dataclass(frozen=True)
class Bound:
    value: object
    inclusive: bool


@dataclass(frozen=True)
class Range:
    low: Bound | None  # None = unbounded below
    high: Bound | None  # None = unbounded above

    def is_empty(self) -> bool:
        if self.low is None or self.high is None:
            return False
        if self.low.value == self.high.value:
            return not (self.low.inclusive and self.high.inclusive)
        return self.low.value > self.high.value  # type: ignore[operator]


ALL = Range(None, None)


def _low_key(b: Bound | None) -> tuple:
    # Unbounded sorts first; for equal values an inclusive low bound starts earlier.
    return (0,) if b is None else (1, b.value, 0 if b.inclusive else 1)


def _max_low(a: Bound | None, b: Bound | None) -> Bound | None:
    return b if _low_key(a) <= _low_key(b) else a


def _min_high(a: Bound | None, b: Bound | None) -> Bound | None:
    if a is None:
        return b
    if b is None:
        return a
    if a.value != b.value:
        return a if a.value < b.value else b  # type: ignore[operator]
    return a if not a.inclusive else b


def _touches(a: Range, b: Range) -> bool:
    """Whether range b (starting at or after a) overlaps or is adjacent to a."""
    if a.high is None or b.low is None:
        return True
    if a.high.value != b.low.value:
        return a.high.value > b.low.value  # type: ignore[operator]
    return a.high.inclusive or b.low.inclusive


@dataclass(frozen=True)
class Domain:
    ranges: tuple[Range, ...]
    null_allowed: bool = False

    @staticmethod
    def of(ranges: list[Range], null_allowed: bool = False) -> Domain:
        return Domain(_normalize(ranges), null_allowed)

    @staticmethod
    def everything() -> Domain:
        return Domain((ALL,), True)

    def intersect(self, other: Domain) -> Domain:
        out = []
        for a in self.ranges:
            for b in other.ranges:
                r = Range(_max_low(a.low, b.low), _min_high(a.high, b.high))
                if not r.is_empty():
                    out.append(r)
        return Domain.of(out, self.null_allowed and other.null_allowed)

    def union(self, other: Domain) -> Domain:
        return Domain.of([*self.ranges, *other.ranges], self.null_allowed or other.null_allowed)

    def contains(self, value: object) -> bool:
        """Whether `value` (None = NULL) is in the domain."""
        if value is None:
            return self.null_allowed
        for r in self.ranges:
            if r.low is not None and (value < r.low.value or (value == r.low.value and not r.low.inclusive)):  # type: ignore[operator]
                continue
            if r.high is not None and (value > r.high.value or (value == r.high.value and not r.high.inclusive)):  # type: ignore[operator]
                continue
            return True
        return False

    @property
    def is_all(self) -> bool:
        return self.null_allowed and self.ranges == (ALL,)


def _normalize(ranges: list[Range]) -> tuple[Range, ...]:
    live = sorted((r for r in ranges if not r.is_empty()), key=lambda r: _low_key(r.low))
    out: list[Range] = []
    for r in live:
        if out and _touches(out[-1], r):
            last = out[-1]
            high = None if last.high is None or r.high is None else _max_high(last.high, r.high)
            out[-1] = Range(last.low, high)
        else:
            out.append(r)
    return tuple(out)


def _max_high(a: Bound, b: Bound) -> Bound:
    if a.value != b.value:
        return a if a.value > b.value else b  # type: ignore[operator]
    return a if a.inclusive else b


def point(value: object) -> Range:
    return Range(Bound(value, True), Bound(value, True))


# ---------------------------------------------------------------- value sets


def is_orderable(t: pa.DataType) -> bool:
    return not (pa.types.is_nested(t) or pa.types.is_null(t))


def to_value_set(domain: Domain, arrow_type: pa.DataType) -> protocol.ValueSet:
    """The `summary` entry for one column: a SortedRangeSet for orderable types, otherwise an
    AllOrNoneValueSet (only IS [NOT] NULL can be expressed on nested columns)."""
    if not is_orderable(arrow_type):
        return protocol.all_or_none(arrow_type, all=bool(domain.ranges), null_allowed=domain.null_allowed)
    ranges = [
        protocol.range_of(
            _wire_value(r.low, arrow_type),
            _wire_value(r.high, arrow_type),
            low_inclusive=r.low is not None and r.low.inclusive,
            high_inclusive=r.high is not None and r.high.inclusive,
        )
        for r in domain.ranges
    ]
    return protocol.sorted_range_set(arrow_type, ranges, null_allowed=domain.null_allowed)


def value_set(domain: Domain, arrow_type: pa.DataType, serde_version: int) -> dict:
    """`to_value_set` as the JSON of serde `serde_version`."""
    return protocol.value_set_to_json(to_value_set(domain, arrow_type), legacy=serde_version == 2)


def _wire_value(bound: Bound | None, arrow_type: pa.DataType) -> object:
    """A bound's value as the protocol's value sets take it (None = unbounded); the engine keeps
    TIMESTAMP values as epoch milliseconds, the protocol as aware UTC datetimes."""
    if bound is None:
        return None
    if pa.types.is_date64(arrow_type) or pa.types.is_timestamp(arrow_type):
        return from_epoch_millis(bound.value)  # type: ignore[arg-type]
    return bound.value
