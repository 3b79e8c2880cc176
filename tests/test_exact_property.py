"""Property: planner + real API + residual returns exactly what a brute-force filter of the whole
entity (the reference API's own database) returns, for random predicates on every column type."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saasbridge.query.ir import And, Between, Compare, Contains, InList, IsNull, Not, Or, Query
from saasbridge.query.reader import read
from saasbridge.runtime import Runtime

UTC = dt.UTC
ENTITIES = {"accounts": ["country", "industry", "is_active", "employees", "annual_revenue", "updated_at",
                         "address_city", "id", "name"],
            "deals": ["stage", "account_id", "amount", "close_date", "probability", "updated_at", "id"],
            "events": ["type", "duration_ms", "occurred_at", "contact_id", "id"]}


@pytest.fixture(scope="module")
def world(reference_api):
    from demo_saas.store import dump_records

    rt = Runtime.from_env({"SAASBRIDGE_API_URL": reference_api.url, "SAASBRIDGE_API_KEY": "demo-acme-key"})
    data = {e: dump_records(reference_api.db_path, "acme", e) for e in ENTITIES}
    return rt, rt.client(), data


def _py(entity_field, raw):
    """The API's JSON value as the typed Python value the IR uses."""
    if raw is None:
        return None
    k = entity_field.type.kind
    if k == "timestamp":
        return dt.datetime.fromisoformat(raw).astimezone(UTC)
    if k == "date":
        return dt.date.fromisoformat(raw)
    if k == "decimal":
        return Decimal(repr(raw)).quantize(Decimal(1).scaleb(-entity_field.type.scale))
    return raw


def _value(entity, column, record):
    f = entity.field(column)
    v = record
    for key in f.api_name.split("."):
        v = v.get(key) if isinstance(v, dict) else None
    return _py(f, v)


def _cmp(op, a, b):
    if a is None or b is None:
        return None
    return {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]


def _truth(e, get):
    if isinstance(e, And):
        rs = [_truth(x, get) for x in e.items]
        return False if False in rs else (None if None in rs else True)
    if isinstance(e, Or):
        rs = [_truth(x, get) for x in e.items]
        return True if True in rs else (None if None in rs else False)
    if isinstance(e, Not):
        r = _truth(e.item, get)
        return None if r is None else not r
    v = get(e.column)
    if isinstance(e, IsNull):
        return (v is not None) if e.negate else (v is None)
    if isinstance(e, Compare):
        return _cmp(e.op, v, e.value)
    if isinstance(e, Between):
        a, b = _cmp("ge", v, e.low), _cmp("le", v, e.high)
        return False if False in (a, b) else (None if None in (a, b) else True)
    if isinstance(e, InList):
        rs = [_cmp("eq", v, x) for x in e.values]
        r = True if True in rs else (None if None in rs or v is None else False)
        return None if r is None else (not r if e.negate else r)
    if isinstance(e, Contains):
        return None if v is None else e.value in v
    raise AssertionError(e)


@st.composite
def queries(draw, world):
    rt, _, data = world
    name = draw(st.sampled_from(sorted(ENTITIES)))
    entity = rt.catalog.entity(name)
    records = data[name]

    def sample(column):
        # values the data really holds (so predicates hit), nudged for ranges
        v = _value(entity, column, draw(st.sampled_from(records)))
        if v is not None and isinstance(v, dt.datetime) and draw(st.booleans()):
            v += dt.timedelta(milliseconds=draw(st.integers(-2, 2)))
        return v

    @st.composite
    def leaf(d):
        column = d(st.sampled_from(ENTITIES[name]))
        kind = d(st.sampled_from(["cmp", "cmp", "in", "between", "null", "contains"]))
        if kind == "cmp":
            return Compare(column, d(st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"])), sample(column))
        if kind == "in":
            return InList(column, tuple(sample(column) for _ in range(d(st.integers(1, 4)))), d(st.booleans()))
        if kind == "between":
            a, b = sample(column), sample(column)
            return Between(column, a, b)
        if kind == "contains" and entity.field(column).type.kind == "string":
            v = sample(column) or "a"
            return Contains(column, v[1:4])
        return IsNull(column, d(st.booleans()))

    expr = draw(st.recursive(leaf(), lambda c: st.builds(And, st.lists(c, min_size=2, max_size=3).map(tuple))
                             | st.builds(Or, st.lists(c, min_size=2, max_size=3).map(tuple))
                             | st.builds(Not, c), max_leaves=4))
    # None literals inside comparisons are legal IR: they never match
    limit = draw(st.one_of(st.none(), st.integers(1, 30)))
    return Query(name, columns=("id",), where=expr, limit=limit)


@pytest.mark.slow
def test_planner_api_residual_is_exact(world):
    rt, client, data = world

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(queries(world))
    def check(query):
        entity = rt.catalog.entity(query.entity)
        expected = {r["id"] for r in data[query.entity]
                    if _truth(query.where, lambda c, r=r: _value(entity, c, r)) is True}
        got = [row["id"] for page in read(client, rt.catalog, query) for row in page.batch.to_pylist()]
        assert len(got) == len(set(got)), "duplicate rows"
        if query.limit is None:
            assert set(got) == expected
        else:
            assert len(got) == min(query.limit, len(expected)) and set(got) <= expected

    check()
