"""Residual filter: pyarrow.compute vs a brute-force Python evaluation in SQL three-valued logic."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saasbridge.errors import QueryError
from saasbridge.query.ir import And, Between, Compare, Const, Contains, InList, IsNull, Not, Or
from saasbridge.query.residual import apply, evaluate

UTC = dt.UTC
T = dt.datetime(2024, 1, 1, tzinfo=UTC)
D = dt.date(2024, 1, 1)

COLUMNS = {
    "i": (pa.int64(), [1, 2, None, -3, 2]),
    "f": (pa.float64(), [1.5, None, 2.0, -0.25, 3.0]),
    "d": (pa.decimal128(12, 2), [Decimal("1.10"), Decimal("2.00"), None, Decimal("-0.05"), Decimal("1.10")]),
    "s": (pa.string(), ["apple", "Banana", None, "cherry", "app"]),
    "b": (pa.bool_(), [True, False, None, True, False]),
    "day": (pa.date32(), [D, D + dt.timedelta(days=1), None, D - dt.timedelta(days=3), D]),
    "ts": (pa.timestamp("ms", tz="UTC"), [T, T + dt.timedelta(milliseconds=1), None, T - dt.timedelta(hours=1), T]),
}
BATCH = pa.RecordBatch.from_arrays([pa.array(v, t) for t, v in COLUMNS.values()], names=list(COLUMNS))
ROWS = BATCH.to_pylist()
LITERALS = {
    "i": [1, 2, -3, 0, 1.5, Decimal("2"), None],
    "f": [1.5, 2, 3.0, -1, None],
    "d": [Decimal("1.1"), Decimal("2.00"), 1.1, 2, Decimal("-0.05"), None],
    "s": ["apple", "app", "banana", "Banana", "", None],
    "b": [True, False, None],
    "day": [D, D + dt.timedelta(days=1), None],
    "ts": [T, T + dt.timedelta(microseconds=500), T + dt.timedelta(milliseconds=1), D, None],
}


# ---- brute force: SQL three-valued logic on Python values (None = unknown)


def _cmp(op, a, b):
    if a is None or b is None:
        return None
    if isinstance(a, dt.datetime) and type(b) is dt.date:
        b = dt.datetime(b.year, b.month, b.day, tzinfo=UTC)
    if isinstance(a, Decimal) and isinstance(b, float):
        b = Decimal(repr(b))
    return {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]


def _and(xs):
    return False if False in xs else (None if None in xs else True)


def _or(xs):
    return True if True in xs else (None if None in xs else False)


def oracle(e, row):
    if isinstance(e, Const):
        return e.value
    if isinstance(e, And):
        return _and([oracle(x, row) for x in e.items])
    if isinstance(e, Or):
        return _or([oracle(x, row) for x in e.items])
    if isinstance(e, Not):
        r = oracle(e.item, row)
        return None if r is None else not r
    if isinstance(e, IsNull):
        return (row[e.column] is not None) if e.negate else (row[e.column] is None)
    if isinstance(e, Compare):
        return _cmp(e.op, row[e.column], e.value)
    if isinstance(e, Between):
        return _and([_cmp("ge", row[e.column], e.low), _cmp("le", row[e.column], e.high)])
    if isinstance(e, InList):
        r = _or([_cmp("eq", row[e.column], v) for v in e.values]) if e.values else (
            None if row[e.column] is None else False)
        return None if r is None else (not r if e.negate else r)
    if isinstance(e, Contains):
        v = row[e.column]
        return None if v is None else e.value in v
    raise AssertionError(e)


@st.composite
def leaf(draw):
    col = draw(st.sampled_from(sorted(COLUMNS)))
    lit = st.sampled_from(LITERALS[col])
    kind = draw(st.sampled_from(["cmp", "between", "in", "null", "contains"]))
    if kind == "cmp":
        return Compare(col, draw(st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"])), draw(lit))
    if kind == "between":
        return Between(col, draw(lit), draw(lit))
    if kind == "in":
        return InList(col, tuple(draw(st.lists(lit, max_size=3))), draw(st.booleans()))
    if kind == "contains" and col == "s":
        return Contains("s", draw(st.sampled_from(["app", "an", "", "X"])))
    return IsNull(col, draw(st.booleans()))


exprs = st.recursive(
    leaf() | st.builds(Const, st.booleans()),
    lambda c: st.builds(And, st.lists(c, min_size=1, max_size=3).map(tuple))
    | st.builds(Or, st.lists(c, min_size=1, max_size=3).map(tuple))
    | st.builds(Not, c),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(exprs)
def test_residual_matches_three_valued_brute_force(expr):
    mask = evaluate(expr, BATCH).to_pylist()
    assert mask == [oracle(expr, row) is True for row in ROWS]
    assert apply(expr, BATCH).to_pylist() == [row for row in ROWS if oracle(expr, row) is True]


def test_not_of_unknown_stays_unknown():
    # NOT (i = 1) must not match the row where i is null
    assert evaluate(Not(Compare("i", "eq", 1)), BATCH).to_pylist() == [False, True, False, True, True]


def test_not_in_with_null_in_list_never_matches():
    assert not any(evaluate(InList("i", (1, None), negate=True), BATCH).to_pylist())


def test_works_on_tables_too():
    table = pa.Table.from_batches([BATCH, BATCH])
    assert evaluate(Compare("s", "eq", "app"), table).to_pylist() == [False, False, False, False, True] * 2


def test_type_mismatch_is_a_clear_error():
    with pytest.raises(QueryError, match="column i"):
        evaluate(Compare("i", "eq", "one"), BATCH)
    with pytest.raises(QueryError, match="contains needs a string"):
        evaluate(Contains("i", "1"), BATCH)
    with pytest.raises(QueryError, match="not in the data"):
        evaluate(Compare("zz", "eq", 1), BATCH)
