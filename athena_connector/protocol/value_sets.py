"""Value sets (the per-column domains in `constraints.summary`): model, JSON serde, IR.

Three kinds, as in the SDK: SortedRangeSet (ranges of Markers), EquatableValueSet (IN / NOT IN
a list), AllOrNoneValueSet (everything / IS NOT NULL / IS NULL / nothing). NULL matches a value
set iff `null_allowed`; every other clause is SQL (a NULL never satisfies a comparison).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from athena_connector.errors import ProtocolError
from athena_connector.protocol import ipc
from athena_connector.protocol.arrow_types import arrow_type_from_json, arrow_type_to_json
from athena_connector.protocol.values import array_to_python, value_batch
from saasbridge.query.ir import And, Between, Compare, Const, Expr, InList, IsNull, Or

Bound = Literal["EXACTLY", "ABOVE", "BELOW"]


@dataclass(frozen=True)
class Marker:
    """A range end: `value` with `bound`; `unbounded` (the wire's `nullValue`) = ±infinity."""

    value: Any
    bound: Bound
    unbounded: bool = False


@dataclass(frozen=True)
class Range:
    low: Marker
    high: Marker


@dataclass(frozen=True)
class SortedRangeSet:
    type: pa.DataType
    ranges: tuple[Range, ...]
    null_allowed: bool


@dataclass(frozen=True)
class EquatableValueSet:
    type: pa.DataType
    values: tuple[Any, ...]
    white_list: bool
    null_allowed: bool


@dataclass(frozen=True)
class AllOrNoneValueSet:
    type: pa.DataType
    all: bool
    null_allowed: bool


ValueSet = SortedRangeSet | EquatableValueSet | AllOrNoneValueSet

# ---------------------------------------------------------------- constructors from Python values

LOW_UNBOUNDED = Marker(None, "ABOVE", True)
HIGH_UNBOUNDED = Marker(None, "BELOW", True)


def range_of(low: Any = None, high: Any = None, *, low_inclusive: bool = True, high_inclusive: bool = True) -> Range:
    """A range; `None` for an end means unbounded."""
    lo = LOW_UNBOUNDED if low is None else Marker(low, "EXACTLY" if low_inclusive else "ABOVE")
    hi = HIGH_UNBOUNDED if high is None else Marker(high, "EXACTLY" if high_inclusive else "BELOW")
    return Range(lo, hi)


def single_value(value: Any) -> Range:
    return Range(Marker(value, "EXACTLY"), Marker(value, "EXACTLY"))


def sorted_range_set(t: pa.DataType, ranges: Sequence[Range], *, null_allowed: bool = False) -> SortedRangeSet:
    return SortedRangeSet(t, tuple(ranges), null_allowed)


def values_in(t: pa.DataType, values: Sequence[Any], *, null_allowed: bool = False) -> SortedRangeSet:
    """`col IN (values)` as Athena encodes it for orderable types: one single-value range each."""
    return SortedRangeSet(t, tuple(single_value(v) for v in sorted(set(values))), null_allowed)


def equatable(t: pa.DataType, values: Sequence[Any], *, white_list: bool = True, null_allowed: bool = False
              ) -> EquatableValueSet:
    return EquatableValueSet(t, tuple(values), white_list, null_allowed)


def is_null(t: pa.DataType) -> AllOrNoneValueSet:
    return AllOrNoneValueSet(t, False, True)


def not_null(t: pa.DataType) -> SortedRangeSet:
    return SortedRangeSet(t, (Range(LOW_UNBOUNDED, HIGH_UNBOUNDED),), False)


def all_or_none(t: pa.DataType, *, all: bool, null_allowed: bool) -> AllOrNoneValueSet:  # noqa: A002
    return AllOrNoneValueSet(t, all, null_allowed)


# ---------------------------------------------------------------- JSON serde


def _value_block(values: Sequence[Any], t: pa.DataType, legacy: bool, allocator_id: str) -> dict[str, Any]:
    return ipc.encode_block(value_batch(values, t), legacy=legacy, allocator_id=allocator_id)


def _marker_to_json(m: Marker, t: pa.DataType, legacy: bool, aid: str) -> dict[str, Any]:
    return {
        "valueBlock": _value_block([] if m.unbounded else [m.value], t, legacy, aid),
        "bound": m.bound,
        "nullValue": m.unbounded,
    }


def value_set_to_json(vs: ValueSet, *, legacy: bool = False, allocator_id: str = "saasbridge") -> dict[str, Any]:
    """A value set in the SDK's exact field order."""
    if isinstance(vs, SortedRangeSet):
        return {
            "@type": "SortedRangeSet",
            "type": arrow_type_to_json(vs.type),
            "ranges": [
                {"low": _marker_to_json(r.low, vs.type, legacy, allocator_id),
                 "high": _marker_to_json(r.high, vs.type, legacy, allocator_id)}
                for r in vs.ranges
            ],
            "nullAllowed": vs.null_allowed,
        }
    if isinstance(vs, EquatableValueSet):
        return {
            "@type": "EquatableValueSet",
            "valueBlock": _value_block(vs.values, vs.type, legacy, allocator_id),
            "whiteList": vs.white_list,
            "nullAllowed": vs.null_allowed,
        }
    if isinstance(vs, AllOrNoneValueSet):
        return {"@type": "AllOrNoneValueSet", "type": arrow_type_to_json(vs.type), "all": vs.all,
                "nullAllowed": vs.null_allowed}
    raise TypeError(f"not a value set: {vs!r}")


def _block_values(block: Any, what: str) -> tuple[pa.DataType, list[Any]]:
    batch = ipc.decode_block(block)
    if batch.num_columns != 1:
        raise ProtocolError(f"{what} value block must have exactly one column, has {batch.num_columns}")
    return batch.schema.field(0).type, array_to_python(batch.column(0))


def _bool(obj: dict[str, Any], key: str, what: str, default: bool | None = None) -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        raise ProtocolError(f"{what}: {key!r} must be true or false")
    return value


def _marker_from_json(obj: Any, what: str) -> Marker:
    if not isinstance(obj, dict):
        raise ProtocolError(f"{what} must be an object")
    bound = obj.get("bound")
    if bound not in ("EXACTLY", "ABOVE", "BELOW"):
        raise ProtocolError(f"{what}: bound must be EXACTLY, ABOVE or BELOW, got {bound!r}")
    unbounded = _bool(obj, "nullValue", what, False)
    if unbounded:
        return Marker(None, bound, True)
    _, values = _block_values(obj.get("valueBlock"), what)
    if len(values) != 1:
        raise ProtocolError(f"{what}: a bounded marker needs exactly one value, got {len(values)}")
    return Marker(values[0], bound, False)


def value_set_from_json(obj: Any, column: str = "?") -> ValueSet:
    """Parse one value set (lenient about key order)."""
    what = f"value set of column {column!r}"
    if not isinstance(obj, dict):
        raise ProtocolError(f"{what} must be an object")
    kind = obj.get("@type")
    null_allowed = _bool(obj, "nullAllowed", what)
    if kind == "SortedRangeSet":
        ranges = obj.get("ranges")
        if not isinstance(ranges, list):
            raise ProtocolError(f"{what}: 'ranges' must be a list")
        parsed = tuple(
            Range(_marker_from_json(r.get("low") if isinstance(r, dict) else None, f"{what} low marker"),
                  _marker_from_json(r.get("high") if isinstance(r, dict) else None, f"{what} high marker"))
            for r in ranges
        )
        return SortedRangeSet(arrow_type_from_json(obj.get("type")), parsed, null_allowed)
    if kind == "EquatableValueSet":
        t, values = _block_values(obj.get("valueBlock"), what)
        return EquatableValueSet(t, tuple(values), _bool(obj, "whiteList", what), null_allowed)
    if kind == "AllOrNoneValueSet":
        return AllOrNoneValueSet(arrow_type_from_json(obj.get("type")), _bool(obj, "all", what), null_allowed)
    raise ProtocolError(f"{what}: unknown value set type {kind!r}")


# ---------------------------------------------------------------- → IR


def _range_expr(column: str, r: Range) -> Expr:
    lo, hi = r.low, r.high
    if lo.unbounded and hi.unbounded:
        return IsNull(column, negate=True)
    if not lo.unbounded and not hi.unbounded and lo.bound == "EXACTLY" and hi.bound == "EXACTLY":
        if lo.value == hi.value:
            return Compare(column, "eq", lo.value)
        return Between(column, lo.value, hi.value)
    parts: list[Expr] = []
    if not lo.unbounded:
        parts.append(Compare(column, "ge" if lo.bound == "EXACTLY" else "gt", lo.value))
    if not hi.unbounded:
        parts.append(Compare(column, "le" if hi.bound == "EXACTLY" else "lt", hi.value))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _or(column: str, items: list[Expr], null_allowed: bool) -> Expr:
    if null_allowed:
        items = [*items, IsNull(column)]
    if not items:
        return Const(False)
    return items[0] if len(items) == 1 else Or(tuple(items))


def value_set_to_ir(column: str, vs: ValueSet) -> Expr:
    """The predicate a value set stands for, with SQL NULL semantics, as an IR expression."""
    if isinstance(vs, AllOrNoneValueSet):
        if vs.all:
            return Const(True) if vs.null_allowed else IsNull(column, negate=True)
        return IsNull(column) if vs.null_allowed else Const(False)
    if isinstance(vs, EquatableValueSet):
        values = tuple(v for v in vs.values if v is not None)
        if vs.white_list:
            items: list[Expr] = []
            if len(values) == 1:
                items.append(Compare(column, "eq", values[0]))
            elif values:
                items.append(InList(column, values))
            return _or(column, items, vs.null_allowed)
        clause: Expr = InList(column, values, negate=True) if values else IsNull(column, negate=True)
        return _or(column, [clause], vs.null_allowed)
    singles = [r.low.value for r in vs.ranges if _is_single(r)]
    items = [_range_expr(column, r) for r in vs.ranges if not _is_single(r)]
    if len(singles) == 1:
        items.insert(0, Compare(column, "eq", singles[0]))
    elif singles:
        items.insert(0, InList(column, tuple(singles)))
    return _or(column, items, vs.null_allowed)


def _is_single(r: Range) -> bool:
    return (not r.low.unbounded and not r.high.unbounded and r.low.bound == "EXACTLY"
            and r.high.bound == "EXACTLY" and r.low.value == r.high.value)


def value_set_matches(vs: ValueSet, value: Any) -> bool:
    """Brute-force membership of one Python value (for tests and partition pruning)."""
    if value is None:
        return vs.null_allowed
    if isinstance(vs, AllOrNoneValueSet):
        return vs.all
    if isinstance(vs, EquatableValueSet):
        return (value in vs.values) == vs.white_list
    for r in vs.ranges:
        lo_ok = r.low.unbounded or (value >= r.low.value if r.low.bound == "EXACTLY" else value > r.low.value)
        hi_ok = r.high.unbounded or (value <= r.high.value if r.high.bound == "EXACTLY" else value < r.high.value)
        if lo_ok and hi_ok:
            return True
    return False
