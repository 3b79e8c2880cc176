"""JSON records (parsed pages) → Arrow record batches typed by the catalog.

Column-wise: each column's values are gathered from the records, their Python types checked in
one pass, and a typed array built by pyarrow in C (strings, numbers, booleans directly;
timestamps, dates and decimals by a cast from their text, which is exact). Only a column that
holds a value of the wrong type takes the per-value path, where that value becomes null and is
counted in `warnings`. Structs, lists and maps are built from their children the same way, so a
bad nested value nulls only itself. bench/conversion.py measures this against alternatives.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from itertools import chain
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from saasbridge.arrow.schema import arrow_type, entity_schema
from saasbridge.catalog.model import Entity, FieldType

_NONE = type(None)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)
_INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
# Python types accepted as-is by the fast path, per primitive kind (bool is not an int here).
_FAST_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str, _NONE}),
    "int32": frozenset({int, _NONE}),
    "int64": frozenset({int, _NONE}),
    "double": frozenset({float, int, _NONE}),
    "boolean": frozenset({bool, _NONE}),
    "date": frozenset({str, _NONE}),
    "timestamp": frozenset({str, _NONE}),
    "decimal": frozenset({str, int, float, _NONE}),
}
_DICT_OR_NONE = frozenset({dict, _NONE})
_LIST_OR_NONE = frozenset({list, _NONE})
_FLOAT_OR_NONE = frozenset({float, _NONE})
_SIMPLE_ITEMS = frozenset({"string", "int32", "int64", "double", "boolean"})
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError, ValueError)


class _Bad(Exception):
    """A value of the wrong type (or out of range) for its column."""


def _as_int(kind: str) -> Callable[[Any], int]:
    lo, hi = _INT_RANGE[kind]

    def convert(v: Any) -> int:
        if type(v) is float and v.is_integer():
            v = int(v)
        if type(v) is not int or not lo <= v <= hi:
            raise _Bad
        return v

    return convert


def _as_double(v: Any) -> float:
    if type(v) not in (float, int):
        raise _Bad
    return float(v)


def _as_type(t: type) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        if type(v) is not t:
            raise _Bad
        return v

    return convert


def _as_date(v: Any) -> dt.date:
    if type(v) is not str:
        raise _Bad
    try:
        return dt.date.fromisoformat(v)
    except ValueError:
        raise _Bad from None


def _as_epoch_ms(v: Any) -> int:
    """ISO-8601 text → UTC milliseconds (no offset = UTC; sub-millisecond digits truncated)."""
    if type(v) is not str:
        raise _Bad
    try:
        t = dt.datetime.fromisoformat(v)
    except ValueError:
        raise _Bad from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return (t - _EPOCH) // _MS


def _as_decimal(precision: int, scale: int) -> Callable[[Any], Decimal]:
    quantum = Decimal(1).scaleb(-scale)

    def convert(v: Any) -> Decimal:
        if type(v) is float:
            if not math.isfinite(v):
                raise _Bad
            v = repr(v)  # the shortest text that round-trips: the JSON literal for ≤ 15 digits
        elif type(v) is int:
            v = str(v)
        elif type(v) is not str:
            raise _Bad
        try:
            d = Decimal(v)
            q = d.quantize(quantum)
        except (InvalidOperation, ValueError):
            raise _Bad from None
        if q != d or len(q.as_tuple().digits) > precision:
            raise _Bad  # would lose digits: never round silently
        return q

    return convert


def _decimal_text(v: Any) -> Any:
    if v is None or type(v) is str:
        return v
    return repr(v)


class _ColumnBuilder:
    """Builds one Arrow array from one column's raw values, counting bad values."""

    def __init__(self, ft: FieldType):
        self.ft = ft
        self.type = arrow_type(ft)
        self.bad = 0
        kind = ft.kind
        if kind in ("struct", "list", "map"):
            self.children = (
                [(name, _ColumnBuilder(t)) for name, t in ft.fields]
                if kind == "struct"
                else [("item", _ColumnBuilder(ft.item))]  # type: ignore[arg-type]
            )
        self._fast = _FAST_TYPES.get(kind)

    def build(self, values: list[Any]) -> pa.Array:
        kind = self.ft.kind
        if kind == "struct":
            return self._struct(values)
        if kind in ("list", "map"):
            return self._nested_list(values)
        if set(map(type, values)) <= self._fast:  # type: ignore[operator]
            try:
                return self._fast_array(values)
            except _ARROW_ERRORS:
                pass  # e.g. a malformed timestamp or an int out of range: take the exact path
        return self._slow_array(values)

    def _fast_array(self, values: list[Any]) -> pa.Array:
        kind = self.ft.kind
        if kind in ("timestamp", "date"):
            return pa.array(values, pa.string()).cast(self.type)
        if kind == "decimal":
            return self._decimal(values)
        return pa.array(values, self.type)

    def _decimal(self, values: list[Any]) -> pa.Array:
        """Floats: cast in C, kept only if provably the decimal the JSON spelled; else exact text."""
        ft = self.ft
        scale = ft.scale or 0
        if set(map(type, values)) <= _FLOAT_OR_NONE and (ft.precision or 38) >= 1:
            floats = pa.array(values, pa.float64())
            dec = floats.cast(pa.decimal128(38, scale), safe=False)
            largest = pc.max(pc.abs(floats)).as_py()
            # ≤ 15 significant digits: two such decimals never share a double, so a decimal
            # that converts back to the same double is the one the JSON literal spelled
            if (largest is None or largest < 10.0 ** (15 - scale)) and pc.all(
                pc.equal(dec.cast(pa.float64()), floats)
            ).as_py() is not False:
                return dec.cast(self.type)
        return pa.array([_decimal_text(v) for v in values], pa.string()).cast(self.type)

    def _slow_array(self, values: list[Any]) -> pa.Array:
        ft = self.ft
        kind = ft.kind
        if kind in _INT_RANGE:
            convert, typ = _as_int(kind), self.type
        elif kind == "double":
            convert, typ = _as_double, self.type
        elif kind == "string":
            convert, typ = _as_type(str), self.type
        elif kind == "boolean":
            convert, typ = _as_type(bool), self.type
        elif kind == "date":
            convert, typ = _as_date, self.type
        elif kind == "timestamp":
            convert, typ = _as_epoch_ms, pa.int64()
        else:  # decimal
            convert, typ = _as_decimal(ft.precision or 38, ft.scale or 0), self.type
        out: list[Any] = []
        for v in values:
            if v is None:
                out.append(None)
                continue
            try:
                out.append(convert(v))
            except _Bad:
                out.append(None)
                self.bad += 1
        arr = pa.array(out, typ)
        return arr.cast(self.type) if typ != self.type else arr

    def _struct(self, values: list[Any]) -> pa.Array:
        if set(map(type, values)) <= _DICT_OR_NONE:
            clean = values
        else:
            clean = [v if type(v) is dict else None for v in values]
            self.bad += sum(1 for v in values if v is not None and type(v) is not dict)
        mask = [v is None for v in clean]
        children = [
            b.build([None if v is None else v.get(name) for v in clean]) for name, b in self.children
        ]
        return pa.StructArray.from_arrays(
            children, fields=list(self.type), mask=pa.array(mask, pa.bool_()) if any(mask) else None
        )

    def _nested_list(self, values: list[Any]) -> pa.Array:
        item = self.ft.item
        simple = self.ft.kind == "list" and item is not None and item.kind in _SIMPLE_ITEMS
        if simple and set(map(type, values)) <= _LIST_OR_NONE:
            items = list(chain.from_iterable(v for v in values if v))
            if set(map(type, items)) <= _FAST_TYPES[item.kind]:  # type: ignore[union-attr]
                try:
                    return pa.array(values, self.type)
                except _ARROW_ERRORS:
                    pass  # e.g. an int out of range: the per-item path nulls just that item
        is_map = self.ft.kind == "map"
        want = dict if is_map else list
        offsets = [0]
        mask: list[bool] = []
        keys: list[Any] = []
        items: list[Any] = []
        end = 0
        for v in values:
            if v is not None and type(v) is not want:
                self.bad += 1
                v = None
            if v is not None:
                if is_map:
                    keys.extend(v.keys())
                    items.extend(v.values())
                else:
                    items.extend(v)
                end += len(v)
            mask.append(v is None)
            offsets.append(end)
        child = self.children[0][1].build(items)
        offs = pa.array(offsets, pa.int32())
        null_mask = pa.array(mask, pa.bool_()) if any(mask) else None
        if is_map:
            return pa.MapArray.from_arrays(offs, pa.array(keys, pa.string()), child, type=self.type, mask=null_mask)
        return pa.ListArray.from_arrays(offs, child, type=self.type, mask=null_mask)


def _gather(records: list[dict], path: tuple[str, ...], cache: dict) -> tuple[list[Any], int]:
    """One column's raw values (dotted api names walk nested objects); shared prefixes are cached.

    Returns the values and how many were lost because an enclosing value was not an object."""
    if path in cache:
        return cache[path]
    if len(path) == 1:
        key = path[0]
        out = ([r.get(key) for r in records], 0)
    else:
        parents, bad = _gather(records, path[:-1], cache)
        key = path[-1]
        if set(map(type, parents)) <= _DICT_OR_NONE:
            out = ([None if v is None else v.get(key) for v in parents], bad)
        else:
            wrong = sum(1 for v in parents if v is not None and type(v) is not dict)
            out = ([v.get(key) if type(v) is dict else None for v in parents], bad + wrong)
    cache[path] = out
    return out


class RecordConverter:
    """Converts pages of JSON records of one entity into record batches of `columns`.

    `warnings` counts values of the wrong type turned into null; `warning_columns` says where.
    """

    def __init__(self, entity: Entity, columns: Sequence[str] | None = None):
        self.entity = entity
        self.schema = entity_schema(entity, columns)
        self._columns = []
        for name in self.schema.names:
            f = entity.field(name)
            self._columns.append((name, tuple(f.api_name.split(".")), f.type))
        self.warnings = 0
        self.warning_columns: Counter[str] = Counter()

    def convert(self, records: list[dict]) -> pa.RecordBatch:
        if records and set(map(type, records)) != {dict}:
            bad = sum(1 for r in records if type(r) is not dict)
            self._warn("(record)", bad)
            records = [r if type(r) is dict else {} for r in records]
        arrays = []
        cache: dict = {}
        for name, path, ft in self._columns:
            values, bad = _gather(records, path, cache)
            builder = _ColumnBuilder(ft)
            arrays.append(builder.build(values))
            self._warn(name, bad + _bad_count(builder))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _warn(self, column: str, count: int) -> None:
        if count:
            self.warnings += count
            self.warning_columns[column] += count


def _bad_count(builder: _ColumnBuilder) -> int:
    total = builder.bad
    for _, child in getattr(builder, "children", ()):
        total += _bad_count(child)
    return total
