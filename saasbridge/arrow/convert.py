"""JSON records (parsed pages) → Arrow record batches typed by the catalog.

Column-wise: one C-level pass per top-level key gathers its values; each column
becomes a typed array built by pyarrow in C. Strings, booleans, timestamps and dates need no
Python type scan (pyarrow rejects every other JSON type for them; timestamps and dates are cast
from their text, which is exact); numbers are type-checked first because pyarrow would truncate
1.5 into an int or take True as 1.0. Float decimals are scaled and rounded in C and kept only if
provably the decimal the JSON spelled. A struct is built from its members' arrays, which the
nested-path columns below it (`address.city`) share. Only a column that holds a value of the
wrong type takes the per-value path, where that value becomes null and is counted in
`warnings`, so a bad nested value nulls only itself. bench/conversion.py measures this.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Context, Decimal, InvalidOperation
from itertools import accumulate, chain, repeat
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
_INT_OR_NONE = frozenset({int, _NONE})
# Kinds whose pyarrow conversion itself rejects every other JSON value type (no type scan needed).
_STRICT = frozenset({"string", "boolean", "timestamp", "date"})
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


# Enough digits for any decimal128 (precision ≤ 38): the default context (28) would reject valid values.
_DECIMAL_CONTEXT = Context(prec=40)


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
            q = d.quantize(quantum, context=_DECIMAL_CONTEXT)
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


def _text_cast_is_exact(texts: pa.Array, scale: int) -> bool:
    """Whether pyarrow's string → decimal128 cast is exact (or rejects) for every text here.

    The cast silently returns a wrong value (zero, or a wrapped 128-bit integer) for text with an
    exponent (a subnormal float's repr, 2.225073858507e-311, becomes 0.00), more than 38 digits, or
    integer digits that with the column's scale exceed 38; such columns take the exact path.
    """
    lengths = pc.utf8_length(texts)
    if (pc.max(lengths).as_py() or 0) > 38:
        return False
    if pc.any(pc.match_substring(texts, "e", ignore_case=True)).as_py():
        return False
    point = pc.find_substring(texts, ".")
    integer_chars = pc.if_else(pc.less(point, 0), lengths, point)
    return (pc.max(integer_chars).as_py() or 0) + scale <= 38


class _ColumnBuilder:
    """Builds one Arrow array from one column's raw values; `bad` counts its (nested) bad values.

    Given `page` and `path`, struct members are taken from the page's shared arrays, so a
    struct and the nested-path columns below it (`address`, `address.city`) are built once.
    """

    def __init__(self, ft: FieldType, page: _Page | None = None, path: tuple[str, ...] = ()):
        self.ft = ft
        self.type = arrow_type(ft)
        self.bad = 0
        self._page = page
        self._path = path
        self._fast = _FAST_TYPES.get(ft.kind)

    def build(self, values: list[Any]) -> pa.Array:
        kind = self.ft.kind
        if kind == "struct":
            return self._struct(values)
        if kind in ("list", "map"):
            return self._nested_list(values)
        # pyarrow itself rejects every non-str (non-bool) JSON value for these: no type scan
        if kind in _STRICT or set(map(type, values)) <= self._fast:  # type: ignore[operator]
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
        """Floats: scaled and rounded in C, kept only if provably the decimal the JSON spelled."""
        ft = self.ft
        scale = ft.scale or 0
        precision = ft.precision or 38
        if scale <= 22 and set(map(type, values)) <= _FLOAT_OR_NONE:
            floats = pa.array(values, pa.float64())
            unit = 10.0**scale
            units = pc.round(pc.multiply(floats, unit))  # the decimal's unscaled integer N
            largest = pc.max(pc.abs(units)).as_py()
            # N < 10^15 is exact in a double and N / 10^scale is correctly rounded, so if it gives
            # back the same double, N / 10^scale is the ≤ 15-digit decimal repr() would spell
            # (two such decimals never share a double): the exact decimal, no float rounding.
            if largest is None or (largest < 10.0 ** min(15, precision) and pc.all(
                pc.equal(pc.divide(units, unit), floats)
            ).as_py() is not False):
                ints = units.cast(pa.int64()).cast(pa.decimal128(38, 0))
                # same 128-bit unscaled integers, read with the column's scale
                return pa.Array.from_buffers(self.type, len(ints), ints.buffers(), ints.null_count, ints.offset)
        if set(map(type, values)) <= _INT_OR_NONE:
            return pa.array(values, pa.int64()).cast(self.type)
        texts = pa.array([_decimal_text(v) for v in values], pa.string())
        if not _text_cast_is_exact(texts, scale):
            return self._slow_array(values)
        return texts.cast(self.type)

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
        if not set(map(type, values)) <= _DICT_OR_NONE:
            self.bad += sum(1 for v in values if v is not None and type(v) is not dict)
            values = [v if type(v) is dict else None for v in values]
        children = []
        for name, t in self.ft.fields:
            if self._page is not None:
                child, bad = self._page.array(self._path + (name,), t)
                self.bad += bad
            else:
                child = self._child(t, _member(values, name))
            children.append(child)
        mask = pa.array([v is None for v in values], pa.bool_()) if None in values else None
        return pa.StructArray.from_arrays(children, fields=list(self.type), mask=mask)

    def _child(self, ft: FieldType, values: list[Any]) -> pa.Array:
        builder = _ColumnBuilder(ft)
        array = builder.build(values)
        self.bad += builder.bad
        return array

    def _nested_list(self, values: list[Any]) -> pa.Array:
        is_map = self.ft.kind == "map"
        want = dict if is_map else list
        item = self.ft.item
        assert item is not None
        # pyarrow would take a str or tuple as a list and pairs as a map: only real ones pass here
        if not set(map(type, values)) <= (_DICT_OR_NONE if is_map else _LIST_OR_NONE):
            self.bad += sum(1 for v in values if v is not None and type(v) is not want)
            values = [v if type(v) is want else None for v in values]
        if item.kind in ("string", "boolean"):
            try:  # pyarrow checks each str/bool item (and map key) itself
                return pa.array(values, self.type)
            except _ARROW_ERRORS:
                pass  # a wrong-typed item: the per-item path below nulls just that item
        mask = None
        if None in values:
            mask = pa.array([v is None for v in values], pa.bool_())
            empty = {} if is_map else ()
            values = [empty if v is None else v for v in values]
        offsets = pa.array([0, *accumulate(map(len, values))], pa.int32())
        nested = map(dict.values, values) if is_map else values
        child = self._child(item, list(chain.from_iterable(nested)))
        if is_map:
            keys = pa.array(list(chain.from_iterable(values)), pa.string())
            return pa.MapArray.from_arrays(offsets, keys, child, type=self.type, mask=mask)
        return pa.ListArray.from_arrays(offsets, child, type=self.type, mask=mask)


def _member(parents: list[Any], key: str) -> list[Any]:
    """`key` of each object in `parents` (objects or None)."""
    if None in parents:
        return [None if v is None else v.get(key) for v in parents]
    return [v.get(key) for v in parents]


class _Page:
    """One page of records: each api path's raw values and each column array, each made once."""

    def __init__(self, records: list[dict]):
        self._records = records
        self._values: dict[tuple[str, ...], tuple[list[Any], int]] = {}
        self._arrays: dict[tuple[tuple[str, ...], FieldType], tuple[pa.Array, int]] = {}

    def values(self, path: tuple[str, ...]) -> tuple[list[Any], int]:
        """The raw values at `path` (a dotted api name walks nested objects), and how many were
        lost because an enclosing value was not an object."""
        hit = self._values.get(path)
        if hit is not None:
            return hit
        if len(path) == 1:
            # one C-level pass per column: no per-record tuple (a row-wise transpose allocates one
            # per record, and those allocations trigger garbage collections that cost more than the pass)
            hit = (list(map(dict.get, self._records, repeat(path[0]))), 0)
        else:
            parents, lost = self.values(path[:-1])
            if not set(map(type, parents)) <= _DICT_OR_NONE:
                lost += sum(1 for v in parents if v is not None and type(v) is not dict)
                parents = [v if type(v) is dict else None for v in parents]
            hit = (_member(parents, path[-1]), lost)
        self._values[path] = hit
        return hit

    def array(self, path: tuple[str, ...], ft: FieldType) -> tuple[pa.Array, int]:
        """The array of the values at `path` as `ft`, and how many of them were bad."""
        key = (path, ft)
        hit = self._arrays.get(key)
        if hit is None:
            builder = _ColumnBuilder(ft, self, path)
            hit = self._arrays[key] = (builder.build(self.values(path)[0]), builder.bad)
        return hit


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
        page = _Page(records)
        arrays = []
        for name, path, ft in self._columns:
            array, bad = page.array(path, ft)
            arrays.append(array)
            self._warn(name, page.values(path)[1] + bad)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _warn(self, column: str, count: int) -> None:
        if count:
            self.warnings += count
            self.warning_columns[column] += count
