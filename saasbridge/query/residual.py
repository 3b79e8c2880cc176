"""The residual filter: the query IR evaluated with pyarrow.compute, in SQL three-valued logic.

A comparison with null is unknown (null), NOT unknown is unknown, AND/OR are Kleene; only rows
whose result is true pass. Literals are converted to the column's type exactly (a float literal
against a decimal column compares as the decimal it spells, never through binary floating point).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from saasbridge.errors import QueryError
from saasbridge.query.ir import And, Between, Compare, Const, Contains, Expr, InList, IsNull, Not, Or

Data = pa.Table | pa.RecordBatch
_US_UTC = pa.timestamp("us", tz="UTC")
_COMPARE = {
    "eq": pc.equal,
    "ne": pc.not_equal,
    "lt": pc.less,
    "le": pc.less_equal,
    "gt": pc.greater,
    "ge": pc.greater_equal,
}


def evaluate(expr: Expr, data: Data) -> pa.Array | pa.ChunkedArray:
    """Boolean mask of the rows that satisfy `expr` (false where SQL says unknown)."""
    return pc.fill_null(_eval(expr, data), False)


def apply(expr: Expr | None, batch: pa.RecordBatch) -> pa.RecordBatch:
    """The rows of `batch` that satisfy `expr` (all of them when `expr` is None)."""
    if expr is None or batch.num_rows == 0:
        return batch
    return batch.filter(evaluate(expr, batch))


def _eval(expr: Expr, data: Data) -> Any:
    if isinstance(expr, Const):
        return pa.array([bool(expr.value)] * data.num_rows, pa.bool_())
    if isinstance(expr, And):
        return _fold(pc.and_kleene, expr.items, data, True)
    if isinstance(expr, Or):
        return _fold(pc.or_kleene, expr.items, data, False)
    if isinstance(expr, Not):
        return pc.invert(_eval(expr.item, data))
    if isinstance(expr, IsNull):
        col = _column(data, expr.column)
        return pc.is_valid(col) if expr.negate else pc.is_null(col)
    if isinstance(expr, Compare):
        col, lit = _operands(data, expr.column, expr.value)
        if lit is None:
            return pa.nulls(data.num_rows, pa.bool_())
        return _COMPARE[expr.op](col, lit)
    if isinstance(expr, Between):
        lo, hi = Compare(expr.column, "ge", expr.low), Compare(expr.column, "le", expr.high)
        return pc.and_kleene(_eval(lo, data), _eval(hi, data))
    if isinstance(expr, InList):
        return _in_list(expr, data)
    if isinstance(expr, Contains):
        col = _column(data, expr.column)
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            raise QueryError(f"contains needs a string column; {expr.column} is {col.type}")
        return pc.match_substring(col, pattern=expr.value)
    raise QueryError(f"unsupported filter expression {type(expr).__name__}")


def _fold(fn: Any, items: tuple[Expr, ...], data: Data, empty: bool) -> Any:
    if not items:
        return pa.array([empty] * data.num_rows, pa.bool_())
    acc = _eval(items[0], data)
    for item in items[1:]:
        acc = fn(acc, _eval(item, data))
    return acc


def _in_list(expr: InList, data: Data) -> Any:
    values = [v for v in expr.values if v is not None]
    col = _column(data, expr.column)
    if values:
        cols, lits = zip(*(_operands(data, expr.column, v) for v in values), strict=True)
        col = cols[0]
        kept = [lit for lit in lits if lit is not None]
        if kept and len({lit.type for lit in kept}) == 1:
            hit = pc.is_in(col, value_set=pa.array([lit.as_py() for lit in kept], kept[0].type))
        else:
            hit = pa.array([False] * data.num_rows, pa.bool_())
            for lit in kept:
                hit = pc.or_kleene(hit, pc.equal(col, lit))
        hit = pc.if_else(pc.is_null(col), pa.scalar(None, pa.bool_()), hit)
    else:
        hit = pc.if_else(pc.is_null(col), pa.scalar(None, pa.bool_()), pa.scalar(False))
    if len(values) != len(expr.values):  # x IN (…, NULL): a miss is unknown, not false
        hit = pc.if_else(pc.fill_null(hit, False), True, pa.scalar(None, pa.bool_()))
    return pc.invert(hit) if expr.negate else hit


def _column(data: Data, name: str) -> Any:
    try:
        return data.column(name)
    except KeyError:
        raise QueryError(f"the filter reads column {name!r}, which is not in the data read") from None


def _operands(data: Data, name: str, value: Any) -> tuple[Any, pa.Scalar | None]:
    """(column, literal) ready to compare; literal None = comparison with NULL (unknown)."""
    col = _column(data, name)
    if value is None:
        return col, None
    t = col.type
    if isinstance(value, bool) != pa.types.is_boolean(t):
        raise _mismatch(name, t, value)
    if pa.types.is_boolean(t):
        return col, pa.scalar(value, t)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if not isinstance(value, str):
            raise _mismatch(name, t, value)
        return col, pa.scalar(value, t)
    if pa.types.is_timestamp(t):
        if isinstance(value, dt.datetime):
            v = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        elif isinstance(value, dt.date):
            v = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        else:
            raise _mismatch(name, t, value)
        return pc.cast(col, _US_UTC), pa.scalar(v, _US_UTC)
    if pa.types.is_date(t):
        if isinstance(value, dt.datetime):  # compare as instants: a date is its midnight UTC
            v = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            return pc.cast(pc.cast(col, pa.timestamp("s")), _US_UTC), pa.scalar(v, _US_UTC)
        if isinstance(value, dt.date):
            return col, pa.scalar(value, pa.date32())
        raise _mismatch(name, t, value)
    if pa.types.is_decimal(t):
        return col, _decimal_literal(name, t, value)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        if isinstance(value, int):
            if pa.types.is_integer(t):
                return col, pa.scalar(value, pa.int64()) if -(2**63) <= value < 2**63 else _out_of_range(col, value)
            return col, pa.scalar(float(value), pa.float64())
        if isinstance(value, float):
            return col, pa.scalar(value, pa.float64())
        if isinstance(value, Decimal):
            if value == value.to_integral_value() and pa.types.is_integer(t):
                return col, pa.scalar(int(value), pa.int64())
            return col, pa.scalar(float(value), pa.float64())
        raise _mismatch(name, t, value)
    raise QueryError(f"column {name} of type {t} cannot be compared with a value; filter it with IS NULL only")


def _out_of_range(col: Any, value: int) -> pa.Scalar:
    # beyond int64 every column value is on one side of it; compare as doubles (exact at this size)
    return pa.scalar(float(value), pa.float64())


def _decimal_literal(name: str, t: pa.DataType, value: Any) -> pa.Scalar:
    if isinstance(value, float):
        if not math.isfinite(value):
            return pa.scalar(value, pa.float64())
        value = Decimal(repr(value))
    elif isinstance(value, int):
        value = Decimal(value)
    elif not isinstance(value, Decimal):
        raise _mismatch(name, t, value)
    if not value.is_finite():
        return pa.scalar(float(value), pa.float64())
    if value.as_tuple().exponent > 0:  # type: ignore[operator]
        value = value.quantize(Decimal(1))
    digits = len(value.as_tuple().digits)
    exponent = value.as_tuple().exponent
    scale = max(0, -exponent) if isinstance(exponent, int) else 0
    precision = max(digits, scale + 1)
    if precision > 38:
        return pa.scalar(float(value), pa.float64())
    return pa.scalar(value, pa.decimal128(precision, scale))


def _mismatch(name: str, t: pa.DataType, value: Any) -> QueryError:
    return QueryError(
        f"column {name} ({t}) compared with {type(value).__name__} value {value!r}; use a literal of the column's type"
    )
