"""Integration: lambda_handler driven with JSON events as Athena sends them, against the reference
API on loopback and S3 through the moto server; results compared with the API's own database."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys

import boto3
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from athena_connector import errors
from athena_connector import protocol as p
from athena_connector.handler import lambda_handler, reset_container
from demo_saas import dump_records
from tests.athena_driver import (
    CATALOG_NAME,
    Context,
    actual_rows,
    catalog,
    invoke,
    s3_client,
    same_rows,
    scan,
    truth_rows,
)

BUCKET = "athena-spill-test"


@pytest.fixture
def athena(reference_api, aws_env, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_API_URL", reference_api.url)
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    monkeypatch.setenv("spill_bucket", BUCKET)
    monkeypatch.setenv("spill_prefix", "spill")
    monkeypatch.delenv("SAASBRIDGE_CATALOG", raising=False)
    monkeypatch.delenv("disable_spill_encryption", raising=False)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    reset_container()
    yield reference_api
    reset_container()


def truth(server, entity_name):
    cat = catalog()
    entity = cat.entity(entity_name)
    return entity, truth_rows(entity, dump_records(server.db_path, "acme", entity_name))


def test_ping_and_metadata(athena):
    ping = invoke(p.build_ping_request(CATALOG_NAME, "q1"))
    assert (ping["capabilities"], ping["serDeVersion"], ping["queryId"]) == (24, 6, "q1")
    assert invoke(p.build_list_schemas_request(CATALOG_NAME))["schemas"] == ["crm"]
    names, token = [], None
    while True:
        resp = invoke(p.build_list_tables_request(CATALOG_NAME, "crm", next_token=token, page_size=2))
        assert len(resp["tables"]) <= 2
        names += [t["tableName"] for t in resp["tables"]]
        token = resp["nextToken"]
        if token is None:
            break
    assert sorted(names) == names == sorted(e.name for e in catalog().entities)
    all_at_once = invoke(p.build_list_tables_request(CATALOG_NAME, "crm"))
    assert [t["tableName"] for t in all_at_once["tables"]] == names and all_at_once["nextToken"] is None
    caps = invoke(p.build_get_data_source_capabilities_request(CATALOG_NAME))["capabilities"]
    assert "SYSTEM.QUERY" in caps and caps["supports_limit_pushdown"][0]["subType"] == "integer_constant"


def test_get_table_uses_athena_types(athena):
    resp = invoke(p.build_get_table_request(CATALOG_NAME, "crm", "ACCOUNTS"))
    schema = p.decode_schema(resp["schema"])
    entity = catalog().entity("accounts")
    assert schema.names == entity.column_names and resp["partitionColumns"] == []
    assert schema.field("created_at").type == pa.date64()
    assert schema.field("annual_revenue").type == pa.decimal128(18, 2)
    assert schema.field("tags").type == pa.list_(pa.string())
    assert pa.types.is_struct(schema.field("address").type)
    deals = p.decode_schema(invoke(p.build_get_table_request(CATALOG_NAME, "crm", "deals"))["schema"])
    assert deals.field("close_date").type == pa.date32()
    events = p.decode_schema(invoke(p.build_get_table_request(CATALOG_NAME, "crm", "events"))["schema"])
    assert events.field("properties").type == pa.map_(pa.string(), pa.string())


def test_unknown_table_and_schema_are_clear_errors(athena):
    with pytest.raises(errors.TableNotFoundError) as exc:
        lambda_handler(p.build_get_table_request(CATALOG_NAME, "crm", "acounts"), Context())
    assert "acounts" in str(exc.value) and "crm.accounts" in str(exc.value)
    with pytest.raises(errors.TableNotFoundError, match="schema 'sales' not found"):
        lambda_handler(p.build_list_tables_request(CATALOG_NAME, "sales"), Context())


@pytest.mark.parametrize("entity_name", ["accounts", "deals"])
def test_full_scan_equals_the_database(athena, entity_name, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_ATHENA_MIN_PAGES_PER_SPLIT", "1")  # small tables: split them anyway
    entity, expected = truth(athena, entity_name)
    stats: dict = {}
    table = scan(entity_name, stats=stats)
    assert len(stats["splits"]) > 1  # the catalog's time split hint cuts windows
    assert table.num_rows == len(expected)
    assert same_rows(actual_rows(entity, table), expected)


def test_filters_projection_and_value_set_kinds(athena):
    entity, expected = truth(athena, "accounts")
    some_country = next(r["country"] for r in expected if r["country"])
    employees = sorted(r["employees"] for r in expected)[len(expected) // 2]
    summary = {
        "country": p.values_in(pa.string(), [some_country, "ZZ"]),
        "employees": p.sorted_range_set(pa.int64(), [p.range_of(employees, None, low_inclusive=False)]),
        "industry": p.equatable(pa.string(), ["Retail"], white_list=False, null_allowed=True),
    }
    cols = ["id", "country", "employees", "industry"]
    table = scan("accounts", summary=summary, columns=cols)
    want = [{c: r[c] for c in cols} for r in expected
            if r["country"] in (some_country, "ZZ") and r["employees"] > employees
            and (r["industry"] is None or r["industry"] != "Retail")]
    assert want and same_rows(actual_rows(entity, table), want)


def test_timestamp_range_and_nulls(athena):
    entity, expected = truth(athena, "accounts")
    cut = sorted(r["created_at"] for r in expected)[len(expected) // 3]
    cut_dt = dt.datetime.fromtimestamp(cut / 1000, dt.UTC)
    summary = {"created_at": p.sorted_range_set(pa.date64(), [p.range_of(None, cut_dt, high_inclusive=True)]),
               "industry": p.is_null(pa.string())}
    table = scan("accounts", summary=summary, columns=["id", "created_at", "industry"])
    want = [{"id": r["id"], "created_at": r["created_at"], "industry": None} for r in expected
            if r["created_at"] <= cut and r["industry"] is None]
    assert same_rows(actual_rows(entity, table), want)


def test_forced_spill_is_encrypted_and_reads_back(athena):
    entity, expected = truth(athena, "contacts")
    stats: dict = {}
    table = scan("contacts", max_block=20_000, max_inline=10_000, stats=stats)
    assert "RemoteReadRecordsResponse" in stats["responses"]
    assert same_rows(actual_rows(entity, table), expected)
    split = stats["splits"][0]
    assert len(base64.b64decode(split["encryptionKey"]["key"])) == 32
    assert len(base64.b64decode(split["encryptionKey"]["nonce"])) == 12
    obj = s3_client().get_object(Bucket=BUCKET, Key=split["spillLocation"]["key"] + ".0")["Body"].read()
    with pytest.raises((pa.ArrowException, OSError)):  # ciphertext is not an Arrow message
        pa.ipc.read_message(pa.py_buffer(obj))
    key = p.EncryptionKey(base64.b64decode(split["encryptionKey"]["key"]),
                          base64.b64decode(split["encryptionKey"]["nonce"]))
    plain = AESGCM(key.key).decrypt(key.nonce, obj, None)  # AES-GCM, 12-byte nonce, tag appended
    assert pa.ipc.read_message(pa.py_buffer(plain)).metadata_version == pa.ipc.MetadataVersion.V4
    keys = {s["encryptionKey"]["key"] for s in stats["splits"]}
    assert len(keys) == len(stats["splits"])  # a fresh key per split
    assert all(s["spillLocation"]["key"].startswith("spill/") for s in stats["splits"])


def test_spill_without_encryption_writes_legacy_plaintext(athena, monkeypatch):
    monkeypatch.setenv("disable_spill_encryption", "true")
    entity, expected = truth(athena, "deals")
    stats: dict = {}
    table = scan("deals", max_block=20_000, max_inline=1, stats=stats)
    assert "RemoteReadRecordsResponse" in stats["responses"]  # (an empty window answers inline)
    assert all(s["encryptionKey"] is None for s in stats["splits"])
    assert same_rows(actual_rows(entity, table), expected)
    obj = s3_client().get_object(Bucket=BUCKET, Key=stats["splits"][0]["spillLocation"]["key"] + ".0")["Body"].read()
    assert obj[:4] != b"\xff\xff\xff\xff"
    assert pa.ipc.read_message(pa.py_buffer(obj)).metadata_version == pa.ipc.MetadataVersion.V4


def test_limit_is_exact_with_one_split(athena):
    entity, expected = truth(athena, "contacts")
    stats: dict = {}
    table = scan("contacts", summary={"do_not_contact": p.values_in(pa.bool_(), [False])}, limit=7, stats=stats)
    assert len(stats["splits"]) == 1 and table.num_rows == 7
    ids = {r["id"] for r in expected if r["do_not_contact"] is False}
    assert set(table.column("id").to_pylist()) <= ids


def test_an_inline_block_is_encoded_once(athena, monkeypatch):
    from athena_connector.protocol import ipc

    encoded: list[int] = []  # rows of each RecordBatch message the connector encodes
    real = ipc.batch_bytes

    def counting(batch, **kw):
        encoded.append(batch.num_rows)
        return real(batch, **kw)

    for name, module in list(sys.modules.items()):  # every name it is imported under
        if name.startswith("athena_connector") and getattr(module, "batch_bytes", None) is real:
            monkeypatch.setattr(module, "batch_bytes", counting)
    stats: dict = {}
    table = scan("contacts", columns=["id", "email"], limit=7, stats=stats)
    assert stats["responses"] == ["ReadRecordsResponse"] and table.num_rows == 7
    assert encoded.count(7) == 1  # measured against the inline limit and sent: one encoding


def test_top_n_equals_sorted_truth(athena):
    entity, expected = truth(athena, "accounts")
    order = [("annual_revenue", "DESC_NULLS_LAST"), ("id", "ASC_NULLS_FIRST")]
    table = scan("accounts", columns=["id", "annual_revenue"], limit=9, order_by=order)
    rows = [(r["id"], r["annual_revenue"]) for r in expected]
    rows.sort(key=lambda r: r[0])
    rows.sort(key=lambda r: (r[1] is None, -(r[1] or 0)))
    got = [(r["id"], r["annual_revenue"]) for r in actual_rows(entity, table)]
    assert got == rows[:9]


def test_count_star_reads_no_columns(athena):
    entity, expected = truth(athena, "deals")
    table = scan("deals", columns=[], summary={"stage": p.values_in(pa.string(), ["closed_won"])})
    assert table.num_columns == 0
    assert table.num_rows == sum(r["stage"] == "closed_won" for r in expected)


def test_query_passthrough(athena):
    entity, expected = truth(athena, "accounts")
    country = next(r["country"] for r in expected if r["country"])
    args = {"schemaFunctionName": "SYSTEM.QUERY", "QUERY": f"accounts?country={country}"}
    table = scan("query", passthrough=args, columns=["id", "country"])
    want = [{"id": r["id"], "country": country} for r in expected if r["country"] == country]
    assert want and same_rows(actual_rows(entity, table), want)
    for bad in ("https://evil.example/v1/accounts", "accounts?password=x", "../admin?x=1", "nope?x=1"):
        with pytest.raises((errors.UnsupportedPredicateError, errors.TableNotFoundError)):
            lambda_handler(p.build_get_table_request(CATALOG_NAME, "system", "query",
                                                     passthrough={"QUERY": bad}), Context())


def test_v2_conversation_answers_with_legacy_framing(athena):
    entity, expected = truth(athena, "deals")
    table = scan("deals", version=2, summary={"probability": p.sorted_range_set(
        pa.int32(), [p.range_of(10, 60)])}, columns=["id", "probability"])
    want = [{"id": r["id"], "probability": r["probability"]} for r in expected if 10 <= r["probability"] <= 60]
    assert same_rows(actual_rows(entity, table), want)


def test_errors_are_typed_and_never_leak_the_key(athena, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "wrong-secret-key-123")
    reset_container()
    split = invoke(p.build_get_splits_request(
        CATALOG_NAME, "crm", "accounts", partitions=pa.RecordBatch.from_pydict({"partitionId": pa.array([1], pa.int32())}),
        partition_columns=[], constraints=p.build_constraints({}, limit=1)))["splits"][0]
    event = p.build_read_records_request(CATALOG_NAME, "crm", "accounts", schema=pa.schema([("id", pa.string())]),
                                         split=split, constraints=p.build_constraints({}, limit=1))
    with pytest.raises(errors.ApiAuthenticationError) as exc:
        lambda_handler(event, Context())
    assert "wrong-secret-key-123" not in str(exc.value)
    for bad in ({"@type": "ReadRecordsRequest"}, {"hello": "world"}, json.loads('{"@type": "GetSplitsRequest"}')):
        with pytest.raises(errors.ProtocolError):
            lambda_handler(bad, Context())
    with pytest.raises(errors.UnsupportedRequestError):
        lambda_handler({"@type": "SomethingNewRequest", "identity": {}}, Context())
    udf = p.build_user_defined_function_request(pa.RecordBatch.from_pydict({"x": [1]}), pa.schema([("y", pa.int64())]),
                                                "f")
    with pytest.raises(errors.UnsupportedRequestError, match="no user-defined functions"):
        lambda_handler(udf, Context())


def test_split_pages_follow_the_continuation_token(athena, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_ATHENA_SPLITS_PER_PAGE", "1")
    monkeypatch.setenv("SAASBRIDGE_ATHENA_MIN_PAGES_PER_SPLIT", "1")  # small tables: split them anyway
    entity, expected = truth(athena, "accounts")
    stats: dict = {}
    table = scan("accounts", columns=["id", "updated_at"], stats=stats)
    windows = [(s["properties"]["split_lo"], s["properties"]["split_hi"]) for s in stats["splits"]]
    assert len(windows) > 1 and len(set(windows)) == len(windows)
    assert all(windows[i][1] == windows[i + 1][0] for i in range(len(windows) - 1))  # contiguous, one cut set
    assert same_rows(actual_rows(entity, table), [{"id": r["id"], "updated_at": r["updated_at"]} for r in expected])


def test_kms_data_keys_encrypt_spill(athena, monkeypatch):
    key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("kms_key_id", key_id)
    entity, expected = truth(athena, "deals")
    stats: dict = {}
    table = scan("deals", columns=["id", "amount"], max_block=20_000, max_inline=1, stats=stats)
    key = base64.b64decode(stats["splits"][0]["encryptionKey"]["key"])
    assert len(key) == 16 and len(base64.b64decode(stats["splits"][0]["encryptionKey"]["nonce"])) == 12
    assert same_rows(actual_rows(entity, table), [{"id": r["id"], "amount": r["amount"]} for r in expected])
