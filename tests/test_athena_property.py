"""Property: random constraints (value sets of every kind over every column type) sent through
lambda_handler return exactly the rows a brute-force filter of the API's database keeps."""

from __future__ import annotations

import datetime as dt

import boto3
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from athena_connector import protocol as p
from athena_connector.handler import reset_container
from demo_saas import dump_records
from tests.athena_driver import actual_rows, catalog, same_rows, scan, truth_rows

# (entity, column, Athena type) covering every scalar column type of the demo catalog
COLUMNS = [
    ("accounts", "country", pa.string()),
    ("accounts", "employees", pa.int64()),
    ("accounts", "annual_revenue", pa.decimal128(18, 2)),
    ("accounts", "is_active", pa.bool_()),
    ("accounts", "created_at", pa.date64()),
    ("deals", "close_date", pa.date32()),
    ("deals", "probability", pa.int32()),
    ("contacts", "lead_score", pa.float64()),
]


@pytest.fixture(scope="module")
def env(reference_api, moto_server):
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {"SAASBRIDGE_API_URL": reference_api.url, "SAASBRIDGE_API_KEY": "demo-acme-key",
                     "spill_bucket": "athena-property", "AWS_ENDPOINT_URL": moto_server.url,
                     "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1"}.items():
            mp.setenv(k, v)
        mp.delenv("SAASBRIDGE_CATALOG", raising=False)
        boto3.client("s3").create_bucket(Bucket="athena-property")
        reset_container()
        cat = catalog()
        truths = {e: truth_rows(cat.entity(e), dump_records(reference_api.db_path, "acme", e))
                  for e in {c[0] for c in COLUMNS}}
        yield cat, truths
        reset_container()


def ir_value(t: pa.DataType, v):
    """A normalised truth value as the Python value a value set carries."""
    if v is not None and pa.types.is_date64(t):
        return dt.datetime.fromtimestamp(v / 1000, dt.UTC)
    return v


def matches(vs, v) -> bool:
    """Brute-force value-set membership, written from the protocol reference (section 5.2)."""
    if v is None:
        return vs.null_allowed
    if isinstance(vs, p.AllOrNoneValueSet):
        return vs.all
    if isinstance(vs, p.EquatableValueSet):
        return any(v == x for x in vs.values) == vs.white_list
    for r in vs.ranges:
        above_low = r.low.unbounded or v > r.low.value or (r.low.bound == "EXACTLY" and v == r.low.value)
        below_high = r.high.unbounded or v < r.high.value or (r.high.bound == "EXACTLY" and v == r.high.value)
        if above_low and below_high:
            return True
    return False


@st.composite
def value_sets(draw, t: pa.DataType, seen: list):
    value = st.sampled_from(seen)
    kind = draw(st.sampled_from(["range", "in", "equatable", "all_or_none", "not_null"]))
    null_allowed = draw(st.booleans())
    if kind == "range":
        ranges = []
        for _ in range(draw(st.integers(1, 3))):
            lo, hi = sorted([draw(value), draw(value)])
            lo = None if draw(st.integers(0, 4)) == 0 else lo
            hi = None if draw(st.integers(0, 4)) == 0 else hi
            ranges.append(p.range_of(lo, hi, low_inclusive=draw(st.booleans()), high_inclusive=draw(st.booleans())))
        return p.sorted_range_set(t, ranges, null_allowed=null_allowed)
    if kind == "in":
        return p.values_in(t, draw(st.lists(value, min_size=1, max_size=4)), null_allowed=null_allowed)
    if kind == "equatable":
        return p.equatable(t, draw(st.lists(value, min_size=0, max_size=4, unique=True)),
                           white_list=draw(st.booleans()), null_allowed=null_allowed)
    if kind == "all_or_none":
        return p.all_or_none(t, all=draw(st.booleans()), null_allowed=null_allowed)
    return p.not_null(t)


@pytest.mark.parametrize("entity_name,column,t", COLUMNS, ids=[f"{e}.{c}" for e, c, _ in COLUMNS])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_random_value_sets_return_exactly_the_matching_rows(env, entity_name, column, t, data):
    cat, truths = env
    entity = cat.entity(entity_name)
    rows = truths[entity_name]
    seen = sorted({ir_value(t, r[column]) for r in rows if r[column] is not None})
    vs = data.draw(value_sets(t, seen))
    summary = {column: vs}
    if data.draw(st.booleans()):  # a second, independent constraint on another column
        summary["id"] = p.sorted_range_set(pa.string(), [p.range_of(None, data.draw(st.sampled_from(
            sorted(r["id"] for r in rows))))])
    table = scan(entity_name, summary=summary, columns=["id", column])
    want = [{"id": r["id"], column: r[column]} for r in rows
            if all(matches(v, ir_value(t, r[c]) if c == column else r[c]) for c, v in summary.items())]
    assert same_rows(actual_rows(entity, table), want)
