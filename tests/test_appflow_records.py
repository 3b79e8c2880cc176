"""AppFlow record strings: the column-wise renderer (appflow_connector.render) writes byte for byte
what the per-value path (types.record_json over to_pylist rows) writes, for every Arrow type the
catalog produces and the odd ones around them; and QueryData pages of every entity, read from the
real reference API, are byte for byte the API's own values rendered independently."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import pyarrow as pa
import pytest
import urllib3
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from appflow_connector import records, session
from appflow_connector.handler import lambda_handler
from appflow_connector.render import record_texts
from appflow_connector.types import record_json
from conformance.cases import api_value
from demo_saas.store import dump_records
from tests.helpers import put_secret

# ---- the renderer against the per-value path --------------------------------------------------

_UTC = dt.UTC
_ZONES = [None, "UTC", "+05:30", "America/New_York"]
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)


def _decimal_type(draw):
    precision = draw(st.integers(1, 38))
    scale = draw(st.sampled_from([0, 1, 2, 6, 10, precision]))
    return pa.decimal128(precision, min(scale, precision))


def _decimal_value(draw, t):
    digits = draw(st.integers(-(10 ** t.precision - 1), 10 ** t.precision - 1))
    return Decimal(digits).scaleb(-t.scale)


def _type(draw, depth=0):
    leaves = ["string", "int32", "int64", "double", "bool", "date", "ts", "decimal", "binary", "ts_us", "null"]
    kinds = leaves + (["list", "struct", "map"] if depth < 2 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "string":
        return pa.string()
    if kind in ("int32", "int64"):
        return getattr(pa, kind)()
    if kind == "double":
        return pa.float64()
    if kind == "bool":
        return pa.bool_()
    if kind == "date":
        return pa.date32()
    if kind == "ts":
        return pa.timestamp("ms", tz=draw(st.sampled_from(_ZONES)))
    if kind == "ts_us":
        return pa.timestamp("us", tz="UTC")
    if kind == "decimal":
        return _decimal_type(draw)
    if kind == "binary":
        return pa.binary()
    if kind == "null":
        return pa.null()
    if kind == "list":
        return pa.list_(_type(draw, depth + 1))
    if kind == "map":
        return pa.map_(pa.string(), _type(draw, depth + 1))
    n = draw(st.integers(0, 3))
    return pa.struct([pa.field(f"f{i}", _type(draw, depth + 1)) for i in range(n)])


def _value(draw, t):
    if pa.types.is_null(t) or draw(st.integers(0, 5)) == 0:
        return None
    if pa.types.is_string(t):
        return draw(_text)
    if pa.types.is_int32(t):
        return draw(st.integers(-(2**31), 2**31 - 1))
    if pa.types.is_int64(t):
        return draw(st.integers(-(2**63), 2**63 - 1))
    if pa.types.is_floating(t):
        return draw(st.floats(allow_nan=True, allow_infinity=True))
    if pa.types.is_boolean(t):
        return draw(st.booleans())
    if pa.types.is_date32(t):
        return draw(st.dates(min_value=dt.date(1, 1, 1)))
    if pa.types.is_timestamp(t):
        # mostly recent instants, sometimes any year (Python spells years < 1000 without padding)
        low = dt.datetime(1, 1, 1) if draw(st.integers(0, 4)) == 0 else dt.datetime(1960, 1, 1)
        value = draw(st.datetimes(min_value=low, max_value=dt.datetime(9999, 12, 30)))
        if t.unit == "ms":
            value = value.replace(microsecond=value.microsecond // 1000 * 1000)
        return value.replace(tzinfo=_UTC) if t.tz else value
    if pa.types.is_decimal(t):
        return _decimal_value(draw, t)
    if pa.types.is_binary(t):
        return draw(st.binary(max_size=6))
    if pa.types.is_map(t):
        n = draw(st.integers(0, 3))
        return [(draw(_text), _value(draw, t.item_type)) for _ in range(n)]
    if pa.types.is_list(t):
        return [_value(draw, t.value_type) for _ in range(draw(st.integers(0, 3)))]
    return {t.field(i).name: _value(draw, t.field(i).type) for i in range(t.num_fields)}


@st.composite
def batches(draw):
    n_cols = draw(st.integers(1, 4))
    types = [_type(draw) for _ in range(n_cols)]
    n_rows = draw(st.integers(0, 12))
    try:
        arrays = [pa.array([_value(draw, t) for _ in range(n_rows)], t) for t in types]
    except pa.ArrowInvalid:  # pyarrow's own Decimal import refuses some valid high-precision values
        reject()
    batch = pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(n_cols)])
    start = draw(st.integers(0, n_rows))
    return batch.slice(start, draw(st.integers(0, n_rows - start)))  # slices have offsets


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(), st.data())
def test_renderer_writes_what_the_per_value_path_writes(batch, data):
    names = batch.schema.names
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    expected = [record_json({c: row[c] for c in chosen}) for row in batch.to_pylist(maps_as_pydicts="lossy")]
    assert record_texts(batch, chosen) == expected


def test_renderer_on_catalog_types_with_edge_values():
    t = pa.struct([("at", pa.timestamp("ms", tz="UTC")), ("amount", pa.decimal128(38, 10))])
    batch = pa.RecordBatch.from_pydict({
        "ts": pa.array([dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=_UTC), None,
                        dt.datetime(999, 1, 1, tzinfo=_UTC)], pa.timestamp("ms", tz="UTC")),
        "amount": pa.array([Decimal("0.0000000001"), Decimal("-12.5000000000"), None], pa.decimal128(38, 10)),
        "day": pa.array([dt.date(1970, 1, 1), dt.date(2024, 2, 29), None], pa.date32()),
        "props": pa.array([[("a", "1")], [], None], pa.map_(pa.string(), pa.string())),
        "nested": pa.array([{"at": None, "amount": Decimal("1")}, None, {"at": dt.datetime(2024, 1, 1), "amount": None}], t),
    })  # fmt: skip
    expected = [record_json(row) for row in batch.to_pylist(maps_as_pydicts="lossy")]
    assert record_texts(batch, batch.schema.names) == expected
    assert '"amount":0.0000000001' in expected[0] and '"ts":"1969-12-31T23:59:59.999Z"' in expected[0]
    assert '"props":{"a":"1"}' in expected[0] and '"props":{}' in expected[1]  # a map is an object, even empty


# ---- QueryData pages against the reference API's own rows -------------------------------------


def _render_api_value(value, ft):
    """The record value AppFlow gets for the API's JSON value (independent of the connector)."""
    if value is None:
        return None
    kind = ft.kind
    if kind == "timestamp":
        instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(_UTC)
        return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
    if kind == "decimal":
        exact = Decimal(repr(value) if isinstance(value, float) else str(value))
        return orjson.Fragment(format(exact.quantize(Decimal(1).scaleb(-ft.scale)), "f"))
    if kind == "double":
        return float(value)
    if kind == "list":
        return [_render_api_value(v, ft.item) for v in value]
    if kind == "map":
        return {str(k): _render_api_value(v, ft.item) for k, v in value.items()}
    if kind == "struct":
        return {name: _render_api_value(value.get(name), t) for name, t in ft.fields}
    return value


def _expected_texts(entity, truth, fields):
    return [
        orjson.dumps({f: _render_api_value(api_value(src, entity.field(f).api_name), entity.field(f).type)
                      for f in fields}).decode()
        for src in truth
    ]  # fmt: skip


def _secret(moto_url: str) -> str:
    return put_secret("appflow!records", {"apiKey": "demo-acme-key"}, moto_url)


def _pages(api_url, arn, entity, *, calls, max_results, fields=None, expression=None):
    token, texts = None, []
    for _ in range(calls):
        response = lambda_handler({
            "type": "QueryDataRequest", "entityIdentifier": entity, "selectedFieldNames": fields,
            "filterExpression": expression, "maxResults": max_results, "nextToken": token,
            "connectorContext": {"apiVersion": "v1", "connectorRuntimeSettings": {"instanceUrl": api_url},
                                 "credentials": {"secretArn": arn, "authenticationType": "ApiKey"}},
        }, None)  # fmt: skip
        assert response["isSuccess"], response.get("errorDetails")
        texts += response["records"]
        token = response["nextToken"]
        if not token:
            break
    return texts


@pytest.fixture(scope="module")
def api_with_predictions(tmp_path_factory):
    """A small reference API with some predictions written (that entity starts empty)."""
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.02, seed=7, rate_limit=1000, db_path=tmp_path_factory.mktemp("api") / "db") as api:
        items = [{"entity_type": "account", "entity_id": f"acc_{i:06d}", "model": "m1", "score": i / 7,
                  "label": None if i % 3 else "hot"} for i in range(1, 41)]
        answer = urllib3.PoolManager().request(
            "POST", f"{api.url}/v1/predictions", body=orjson.dumps({"data": items}),
            headers={"Authorization": "Bearer demo-acme-key", "Content-Type": "application/json"})
        assert answer.status == 200, answer.data[:200]
        yield api


@pytest.mark.parametrize("entity_name", ["accounts", "contacts", "deals", "events", "predictions"])
def test_query_data_records_are_the_api_values_byte_for_byte(entity_name, api_with_predictions, aws_env):
    session.reset()
    arn = _secret(aws_env.url)
    entity = session.catalog().entity(entity_name)
    truth = dump_records(api_with_predictions.db_path, "acme", entity_name)
    got = _pages(api_with_predictions.url, arn, entity_name, calls=3, max_results=37)
    assert got == _expected_texts(entity, truth[: len(got)], entity.column_names) and len(got) == min(111, len(truth))
    fields = [entity.column_names[-1], entity.column_names[0]]  # selected fields, in the order asked
    picked = _pages(api_with_predictions.url, arn, entity_name, calls=2, max_results=50, fields=fields)
    assert picked == _expected_texts(entity, truth[: len(picked)], fields) and len(picked) == min(100, len(truth))


def test_byte_budget_cuts_pages_without_gap_or_duplicate(api_with_predictions, aws_env, monkeypatch):
    session.reset()
    arn = _secret(aws_env.url)
    entity = session.catalog().entity("events")
    truth = dump_records(api_with_predictions.db_path, "acme", "events")
    monkeypatch.setattr(records, "RESPONSE_BUDGET_BYTES", 5_000)  # a few dozen records per call
    got = _pages(api_with_predictions.url, arn, "events", calls=10_000, max_results=1000)
    assert got == _expected_texts(entity, truth, entity.column_names)
