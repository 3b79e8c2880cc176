"""JSON records → Arrow: types, exactness, bad values, nesting; against an independent per-value oracle."""

from __future__ import annotations

import datetime as dt
from decimal import Context, Decimal

import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from saasbridge.arrow import RecordConverter, arrow_type, entity_schema
from saasbridge.catalog import load_catalog
from saasbridge.catalog.model import Entity, Field, FieldType
from saasbridge.catalog.types import parse_type
from saasbridge.runtime import catalog_path

UTC = dt.UTC


def _entity(*cols: tuple[str, str, str]) -> Entity:
    return Entity("t", "/t", tuple(Field(n, a, parse_type(t)) for n, a, t in cols))


# ---- an independent oracle: what one JSON value means for one catalog type (None = null/bad)


def _oracle(v, ft: FieldType):
    if v is None:
        return None
    k = ft.kind
    if k == "string":
        return v if isinstance(v, str) else None
    if k in ("int32", "int64"):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
            return None
        bits = 31 if k == "int32" else 63
        return int(v) if -(2**bits) <= int(v) < 2**bits else None
    if k == "double":
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    if k == "boolean":
        return v if isinstance(v, bool) else None
    if k == "decimal":
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            return None
        try:
            d = Decimal(str(v) if not isinstance(v, float) else repr(v))
        except ArithmeticError:
            return None
        if not d.is_finite():
            return None
        try:  # a context wide enough for any decimal128 (the default 28 digits is not)
            q = d.quantize(Decimal(1).scaleb(-ft.scale), context=Context(prec=80))
        except ArithmeticError:
            return None
        return q if q == d and len(q.as_tuple().digits) <= ft.precision else None
    if k == "date":
        try:
            return dt.date.fromisoformat(v) if isinstance(v, str) else None
        except ValueError:
            return None
    if k == "timestamp":
        try:
            t = dt.datetime.fromisoformat(v) if isinstance(v, str) else None
        except ValueError:
            return None
        if t is None:
            return None
        t = t if t.tzinfo else t.replace(tzinfo=UTC)
        t = t.astimezone(UTC)
        return t.replace(microsecond=t.microsecond // 1000 * 1000)
    if k == "list":
        return [_oracle(x, ft.item) for x in v] if isinstance(v, list) else None
    if k == "map":
        return [(a, _oracle(b, ft.item)) for a, b in v.items()] if isinstance(v, dict) else None
    if k == "struct":
        return {n: _oracle(v.get(n), t) for n, t in ft.fields} if isinstance(v, dict) else None
    raise AssertionError(k)


def _dig(record, api_name):
    v = record
    for key in api_name.split("."):
        if not isinstance(v, dict):
            return None
        v = v.get(key)
    return v


def _expected(entity: Entity, records: list[dict]) -> list[dict]:
    return [{f.name: _oracle(_dig(r, f.api_name), f.type) for f in entity.fields} for r in records]


# ---- the reference API's own records


@pytest.fixture(scope="module")
def api_records(tmp_path_factory):
    from demo_saas.store import connect, dump_records, seed_database

    path = tmp_path_factory.mktemp("db") / "ref.sqlite"
    conn = connect(path)
    seed_database(conn, seed=7, scale=0.02)
    conn.commit()
    conn.close()
    return {e: dump_records(path, "acme", e) for e in ("accounts", "contacts", "deals", "events")}


@pytest.mark.parametrize("name", ["accounts", "contacts", "deals", "events"])
def test_reference_entities_convert_exactly(api_records, name):
    entity = load_catalog(catalog_path()).entity(name)
    records = api_records[name]
    conv = RecordConverter(entity)
    batch = conv.convert(records)
    assert batch.schema == entity_schema(entity)
    assert batch.num_rows == len(records) > 0
    assert conv.warnings == 0
    assert batch.to_pylist() == _expected(entity, records)


def test_decimals_never_go_through_binary_float():
    e = _entity(("amount", "amount", "decimal(18,2)"))
    values = [0.1, 1234567890123.45, 0.3, "99.99", 7, -0.07, 1e-2]
    got = RecordConverter(e).convert([{"amount": v} for v in values]).column(0).to_pylist()
    assert got == [Decimal(str(v)).quantize(Decimal("0.01")) for v in values]


def test_decimal_that_would_lose_digits_is_null_and_counted():
    e = _entity(("amount", "amount", "decimal(5,2)"))
    conv = RecordConverter(e)
    got = conv.convert([{"amount": 1.234}, {"amount": 123456.0}, {"amount": 1.5}]).column(0).to_pylist()
    assert got == [None, None, Decimal("1.50")]
    assert conv.warnings == 2 and conv.warning_columns == {"amount": 2}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2024-03-05T17:04:11.250Z", dt.datetime(2024, 3, 5, 17, 4, 11, 250000, tzinfo=UTC)),
        ("2024-03-05T17:04:11Z", dt.datetime(2024, 3, 5, 17, 4, 11, tzinfo=UTC)),
        ("2024-03-05T17:04:11+02:00", dt.datetime(2024, 3, 5, 15, 4, 11, tzinfo=UTC)),
        ("2024-03-05T17:04:11.5-01:30", dt.datetime(2024, 3, 5, 18, 34, 11, 500000, tzinfo=UTC)),
        ("2024-03-05T17:04:11", dt.datetime(2024, 3, 5, 17, 4, 11, tzinfo=UTC)),
        ("2024-03-05T17:04:11.123456Z", dt.datetime(2024, 3, 5, 17, 4, 11, 123000, tzinfo=UTC)),
        ("not a time", None),
    ],
)
def test_timestamps_parse_to_utc_milliseconds(text, expected):
    e = _entity(("ts", "ts", "timestamp"))
    batch = RecordConverter(e).convert([{"ts": "2024-01-01T00:00:00Z"}, {"ts": text}])
    assert batch.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    assert batch.column(0).to_pylist()[1] == expected


def test_wrong_types_become_null_without_shifting_other_columns():
    e = _entity(("id", "id", "string"), ("n", "n", "int32"), ("ok", "ok", "boolean"), ("x", "x", "double"))
    records = [
        {"id": "a", "n": 1, "ok": True, "x": 1},
        {"id": "b", "n": "2", "ok": 1, "x": True},
        {"id": "c", "n": 2.5, "ok": None, "x": "1.5"},
        {"id": "d", "n": 2**40, "unknown": 1},
        {"id": "e", "n": 3.0, "ok": False, "x": 2.5},
    ]
    conv = RecordConverter(e)
    batch = conv.convert(records)
    assert batch.to_pylist() == [
        {"id": "a", "n": 1, "ok": True, "x": 1.0},
        {"id": "b", "n": None, "ok": None, "x": None},
        {"id": "c", "n": None, "ok": None, "x": None},
        {"id": "d", "n": None, "ok": None, "x": None},
        {"id": "e", "n": 3, "ok": False, "x": 2.5},
    ]
    assert conv.warning_columns == {"n": 3, "ok": 1, "x": 2}


def test_nested_paths_structs_lists_maps():
    e = _entity(
        ("city", "address.city", "string"),
        ("address", "address", "struct<city:string,zip:int32>"),
        ("tags", "tags", "list<string>"),
        ("props", "props", "map<string,int64>"),
    )
    records = [
        {"address": {"city": "Berlin", "zip": 10115, "extra": 1}, "tags": ["a", "b"], "props": {"k": 1}},
        {"address": None, "tags": [], "props": {}},
        {"address": "oops", "tags": ["c", 5], "props": {"k": "x", "j": 2}},
        {},
    ]
    conv = RecordConverter(e)
    got = conv.convert(records).to_pylist()
    assert got == [
        {"city": "Berlin", "address": {"city": "Berlin", "zip": 10115}, "tags": ["a", "b"], "props": [("k", 1)]},
        {"city": None, "address": None, "tags": [], "props": []},
        {"city": None, "address": None, "tags": ["c", None], "props": [("k", None), ("j", 2)]},
        {"city": None, "address": None, "tags": None, "props": None},
    ]
    assert conv.warning_columns == {"city": 1, "address": 1, "tags": 1, "props": 1}


def test_non_object_records_are_counted_not_crashing():
    e = _entity(("id", "id", "string"))
    conv = RecordConverter(e)
    assert conv.convert([{"id": "a"}, 5, None, "x"]).column(0).to_pylist() == ["a", None, None, None]
    assert conv.warning_columns["(record)"] == 3


def test_projection_and_canonical_types():
    entity = load_catalog(catalog_path()).entity("accounts")
    schema = entity_schema(entity, ["updated_at", "id"])
    assert schema.names == ["updated_at", "id"]
    assert arrow_type(parse_type("decimal(12,2)")) == pa.decimal128(12, 2)
    assert arrow_type(parse_type("map<string,double>")) == pa.map_(pa.string(), pa.float64())
    assert arrow_type(parse_type("date")) == pa.date32()


# ---- property: any mixture of good and bad values converts like the oracle

_TYPES = ["string", "int32", "int64", "double", "boolean", "decimal(10,3)", "date", "timestamp", "list<int32>",
          "map<string,string>", "struct<a:string,b:double>"]
_json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.dates().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.just(UTC)).map(lambda t: t.isoformat().replace("+00:00", "Z")),
    st.decimals(places=3, allow_nan=False, allow_infinity=False, min_value=-10**6, max_value=10**6).map(str),
)
_json = st.recursive(_json_scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from("abk"), c, max_size=3),
                     max_leaves=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({}, optional={f"c{i}": _json for i in range(len(_TYPES))}), max_size=12))
def test_any_values_convert_like_the_oracle(records):
    e = _entity(*((f"c{i}", f"c{i}", t) for i, t in enumerate(_TYPES)))
    got = RecordConverter(e).convert(records).to_pylist()
    exp = _expected(e, records)
    assert _nan_free(got) == _nan_free(exp)


def _nan_free(v):
    """NaN != NaN; compare it as a marker, at any depth."""
    if isinstance(v, float) and v != v:
        return "NaN"
    if isinstance(v, dict):
        return {k: _nan_free(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_nan_free(x) for x in v)
    return v


def _assert_converts_like_the_oracle(values: list, type_text: str) -> None:
    """A one-column decimal batch equals the oracle, with one warning per value it turns into null."""
    e = _entity(("amount", "amount", type_text))
    conv = RecordConverter(e)
    got = conv.convert([{"amount": v} for v in values]).column(0).to_pylist()
    exp = [_oracle(v, parse_type(type_text)) for v in values]
    assert got == exp
    assert conv.warnings == sum(1 for v, x in zip(values, exp, strict=True) if v is not None and x is None)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, min_value=-1e16, max_value=1e16),
                          st.decimals(places=2, min_value=-10**12, max_value=10**12).map(float)), max_size=30),
       st.sampled_from(["decimal(18,2)", "decimal(10,3)", "decimal(5,0)"]))
# a subnormal double: its repr has an exponent that pyarrow's text cast turned into 0.00
@example(values=[2.225073858507e-311], type_text="decimal(18,2)")
@example(values=[5e-324, 0.25, None], type_text="decimal(10,3)")
def test_float_only_decimal_columns_convert_like_the_oracle(values, type_text):
    _assert_converts_like_the_oracle(values, type_text)


# decimal text as APIs send it: plain, exponent, long fractions, leading/trailing zeros
_decimal_text = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: f"{d:e}"),
    st.builds(lambda sign, i, z, f: f"{sign}{i}.{'0' * z}{f}", st.sampled_from(["", "-"]),
              st.integers(0, 10**40), st.integers(0, 45), st.integers(0, 10**5)),
    st.builds(lambda i, e: f"{i}e{e}", st.integers(-10**6, 10**6), st.integers(-400, 400)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), _decimal_text), max_size=12),
       st.sampled_from(["decimal(38,0)", "decimal(38,10)", "decimal(38,25)", "decimal(18,2)"]))
@example(values=["1e-323", "1.5"], type_text="decimal(18,2)")
@example(values=["70002598011243", "1.5"], type_text="decimal(38,25)")  # 39 digits: wrapped before
@example(values=["1." + "0" * 39, "2"], type_text="decimal(18,0)")  # 40 digits: 0 before
@example(values=["12345678901234567890123456789.5", "x"], type_text="decimal(38,1)")  # exact path, > 28 digits
def test_text_decimal_columns_convert_like_the_oracle(values, type_text):
    _assert_converts_like_the_oracle(values, type_text)
