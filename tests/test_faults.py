"""Faults: the reference API failing (--fail-rate), throttling (--rate-limit), down, slow, changing
under a listing, or answering garbage (a scripted stub). Full extracts (AppFlow handler) and full
scans (Athena handler) still deliver exactly the source rows, or fail loudly with a typed error;
never a partial result that looks complete."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from decimal import Decimal
from pathlib import Path

import boto3
import pytest

from appflow_connector import session
from appflow_connector.handler import lambda_handler as appflow_handler
from athena_connector import errors as athena_errors
from athena_connector.handler import reset_container
from demo_saas import dump_records
from demo_saas.faults import FaultInjector
from saasbridge.catalog import load_catalog
from saasbridge.client import ratelimit
from saasbridge.local.engine.metrics import emf_metrics
from saasbridge.local.httpstub import StubServer, reply
from saasbridge.local.processes import start_reference_api
from saasbridge.runtime import catalog_path, default_catalog_path
from tests import athena_driver, reliability_report
from tests.athena_driver import actual_rows, scan, sort_key, truth_rows
from tests.helpers import put_secret

ENTITIES = ["accounts", "contacts", "deals", "events", "predictions"]
BUCKET = "reliability-spill"
MAX_ATTEMPTS = 10
SCALE = 0.02  # accounts 40, contacts 200, deals 100, events 2000 rows per tenant


# ------------------------------------------------------------------ helpers shared by the cases


def fast_catalog(directory: Path, *, rps: float = 50, concurrency: int = 4, max_attempts: int = MAX_ATTEMPTS) -> Path:
    """The demo catalog with short backoffs (tests must be fast) and a given client rate budget."""
    text = default_catalog_path().read_text()
    text, n = re.subn(r"retry:\n(  .*\n)+", f"retry:\n  max_attempts: {max_attempts}\n  base_delay: 0.02\n"
                      "  max_delay: 0.2\n", text)
    assert n == 1
    text, n = re.subn(r"rate_limit:\n(  .*\n)+", f"rate_limit:\n  requests_per_second: {rps}\n  burst: {max(1, int(rps))}\n"
                      f"  max_concurrency: {concurrency}\n", text)
    assert n == 1
    path = directory / f"catalog-{rps}-{concurrency}-{max_attempts}.yaml"
    path.write_text(text)
    load_catalog(path)  # still valid
    return path


class ShortContext:
    """A Lambda context with a fixed remaining time."""

    def __init__(self, seconds: float):
        self.ms = int(seconds * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self.ms


def query_event(api_url: str, arn: str, entity: str, token: str | None = None, *, max_results: int = 1000,
                expression: str | None = None, fields: list[str] | None = None) -> dict:
    return {"type": "QueryDataRequest", "entityIdentifier": entity, "selectedFieldNames": fields,
            "filterExpression": expression, "maxResults": max_results, "nextToken": token,
            "connectorContext": {"apiVersion": "v1", "connectorRuntimeSettings": {"instanceUrl": api_url},
                                 "credentials": {"secretArn": arn, "authenticationType": "ApiKey"}}}


def extract(api_url: str, arn: str, entity: str, *, context=None, max_results: int = 1000,
            between_calls=None) -> tuple[list[dict], int]:
    """Page through QueryData as AppFlow does; (records, calls). A failed call is an assertion."""
    token, records, calls = None, [], 0
    while True:
        response = appflow_handler(query_event(api_url, arn, entity, token, max_results=max_results), context)
        calls += 1
        assert response["isSuccess"], response["errorDetails"]
        records += [json.loads(r, parse_float=Decimal) for r in response["records"]]
        token = response["nextToken"]
        if not token:
            return records, calls
        if between_calls:
            between_calls(calls)
        assert calls < 5_000


def appflow_rows(entity_name: str, records: list[dict]) -> list[dict]:
    """AppFlow records as the same comparable values the Athena driver uses for the source."""
    entity = load_catalog(catalog_path()).entity(entity_name)
    return truth_rows(entity, [{f.api_name: r.get(f.name) for f in entity.fields} | _nest(entity, r)
                               for r in records])


def _nest(entity, record: dict) -> dict:
    """Nested api names (address.city) rebuilt from flat columns, so truth_rows can walk them."""
    out: dict = {}
    top = {f.api_name for f in entity.fields}
    for f in entity.fields:
        if "." in f.api_name and f.api_name.split(".")[0] not in top:
            head, *rest = f.api_name.split(".")
            cur = out.setdefault(head, {})
            for part in rest[:-1]:
                cur = cur.setdefault(part, {})
            cur[rest[-1]] = record.get(f.name)
    return out


def checksum(rows: list[dict]) -> str:
    """Order-independent content checksum of comparable rows."""
    digest = hashlib.sha256()
    for key in sorted(map(sort_key, rows)):
        digest.update(key.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:12]


def source_rows(server, entity_name: str, tenant: str = "acme") -> list[dict]:
    entity = load_catalog(catalog_path()).entity(entity_name)
    return truth_rows(entity, dump_records(server.db_path, tenant, entity_name))


def appflow_client_stats() -> dict:
    clients = list(session._clients.values())
    return clients[0].stats.as_dict() if clients else {}


@pytest.fixture
def connectors(aws_env, monkeypatch, tmp_path):
    """Both connectors configured against a server given later: returns a `setup(server, …)`."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)

    def setup(url: str, *, rps: float = 50, concurrency: int = 4, key: str = "demo-acme-key",
              max_splits: int = 4, max_attempts: int = MAX_ATTEMPTS) -> str:
        monkeypatch.setenv("SAASBRIDGE_CATALOG", str(fast_catalog(tmp_path, rps=rps, concurrency=concurrency,
                                                                  max_attempts=max_attempts)))
        monkeypatch.setenv("SAASBRIDGE_API_URL", url)
        monkeypatch.setenv("SAASBRIDGE_API_KEY", key)
        monkeypatch.setenv("SAASBRIDGE_ATHENA_MAX_SPLITS", str(max_splits))
        monkeypatch.setenv("spill_bucket", BUCKET)
        monkeypatch.delenv("disable_spill_encryption", raising=False)
        reset_container()
        session.reset()
        session._clients.clear()
        ratelimit._shared.clear()  # a fresh container: nothing learnt from earlier servers on this port
        return put_secret(f"faults-{key}", {"apiKey": key}, aws_env.url)

    yield setup
    reset_container()
    session.reset()
    session._clients.clear()


# ------------------------------------------------------------------ fail-rate and 429 bursts


FAULT_SEED = 50


def first_fault(seed: int, fail_rate: float, tenant: str) -> int:
    """Which request (1-based) of `tenant` the reference API fails first: its faults are a
    reproducible stream per seed and tenant, drawn once per request in arrival order."""
    injector = FaultInjector(seed, fail_rate)
    return next(n for n in range(1, 10_000) if injector.draw(tenant))


@pytest.fixture(scope="module", params=[0.1, 0.3], ids=["fail10", "fail30"])
def failing_api(request):
    with start_reference_api(scale=SCALE, seed=FAULT_SEED, rate_limit=1000, fail_rate=request.param) as server:
        server.fail_rate = request.param
        yield server


def test_fault_seed_fails_an_early_request_of_each_tenant():
    """Each full pass below sends at least one request per entity under a tenant the other pass
    does not use; the seed makes the server fail one of those first requests, so faults are
    certainly met, at any page or split size."""
    for fail_rate in (0.1, 0.3):
        for tenant in ("acme", "globex"):
            assert first_fault(FAULT_SEED, fail_rate, tenant) <= len(ENTITIES), (fail_rate, tenant)


def test_appflow_full_extracts_survive_failures(failing_api, connectors):
    arn = connectors(failing_api.url)
    delivered, expected = {}, {}
    for entity in ENTITIES:
        got, _ = extract(failing_api.url, arn, entity)
        truth = source_rows(failing_api, entity)
        ids = [r["id"] for r in got]
        assert len(ids) == len(set(ids)), f"{entity}: duplicate rows"
        rows = appflow_rows(entity, got)
        assert (len(rows), checksum(rows)) == (len(truth), checksum(truth)), entity
        delivered[entity], expected[entity] = len(rows), len(truth)
    stats = appflow_client_stats()
    # acme's stream is this test's alone; the seed fails one of its first len(ENTITIES) requests
    assert first_fault(FAULT_SEED, failing_api.fail_rate, "acme") <= len(ENTITIES)
    assert stats["retries"] > 0  # the faults were really met
    reliability_report.record(
        "faults", f"AppFlow full extract, fail-rate {failing_api.fail_rate}",
        f"500/503/dropped connection on {failing_api.fail_rate:.0%} of requests; {stats['retries']} retries",
        f"{sum(expected.values())} rows (5 entities, checksums)", f"{sum(delivered.values())} rows, checksums equal")


def test_athena_full_scans_survive_failures(failing_api, connectors, capsys):
    # tenant globex: a fault stream the AppFlow test (acme) does not consume, whatever the test order;
    # the seed fails one of its first len(ENTITIES) requests, and each table's scan sends at least one
    assert first_fault(FAULT_SEED, failing_api.fail_rate, "globex") <= len(ENTITIES)
    connectors(failing_api.url, key="demo-globex-key", concurrency=16, max_splits=16)
    delivered = expected = 0
    capsys.readouterr()
    for entity_name in ENTITIES:
        entity = load_catalog(catalog_path()).entity(entity_name)
        table = scan(entity_name)
        got, truth = actual_rows(entity, table), source_rows(failing_api, entity_name, "globex")
        assert (len(got), checksum(got)) == (len(truth), checksum(truth)), entity_name
        delivered += len(got)
        expected += len(truth)
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["ApiRetries"] > 0 and metrics["RowsReturned"] == expected
    reliability_report.record(
        "faults", f"Athena full scans, fail-rate {failing_api.fail_rate}",
        f"500/503/dropped connection on {failing_api.fail_rate:.0%} of requests; "
        f"{int(metrics['ApiRetries'])} retries (ApiRetries metric)",
        f"{expected} rows (5 tables, checksums)", f"{delivered} rows, checksums equal")


def drain_budget(url: str, key: str = "demo-acme-key") -> int:
    """Another client of the same tenant spends the whole rate budget (until its own 429), so the
    next request of ours meets a 429 with Retry-After; returns how many requests it took."""
    import urllib3

    http = urllib3.PoolManager(retries=False)
    for n in range(1, 200):
        resp = http.request("GET", f"{url}/v1/accounts?limit=1", headers={"Authorization": f"Bearer {key}"})
        if resp.status == 429:
            return n
    raise AssertionError("the rate limit never answered 429")


def hog_budget(url: str, key: str, seconds: float) -> None:
    """Another client taking every token of the tenant's budget as it refills, for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        drain_budget(url, key)
        time.sleep(0.05)


def test_429_bursts_from_a_low_rate_limit(connectors, capsys):
    # The API allows 5 requests/s per tenant; a neighbour drains it before every call of ours.
    with start_reference_api(scale=SCALE, seed=12, rate_limit=5) as api:
        arn = connectors(api.url, rps=50, max_splits=4)
        drain_budget(api.url)
        got, calls = extract(api.url, arn, "events", max_results=700, between_calls=lambda _n: drain_budget(api.url))
        truth = source_rows(api, "events")
        rows = appflow_rows("events", got)
        assert (len(rows), checksum(rows)) == (len(truth), checksum(truth))
        appflow_throttled = appflow_client_stats()["throttled"]
        # Athena as tenant globex: a rate budget this process has not learnt anything about yet.
        connectors(api.url, rps=50, max_splits=4, key="demo-globex-key")
        entity = load_catalog(catalog_path()).entity("deals")
        capsys.readouterr()
        hog = threading.Thread(target=hog_budget, args=(api.url, "demo-globex-key", 1.5))
        hog.start()
        drain_budget(api.url, "demo-globex-key")
        try:
            table = scan("deals")
        finally:
            hog.join()
        athena_throttled = emf_metrics(capsys.readouterr().out)["ApiThrottled"]
        got2, truth2 = actual_rows(entity, table), source_rows(api, "deals", "globex")
        assert (len(got2), checksum(got2)) == (len(truth2), checksum(truth2))
    assert appflow_throttled >= 1 and athena_throttled >= 1  # later 429s are avoided: the client read X-RateLimit-*
    reliability_report.record(
        "faults", "429 bursts (--rate-limit 5, budget drained before each call)",
        f"HTTP 429 with Retry-After: {appflow_throttled} in the AppFlow pass, {int(athena_throttled)} in the Athena scan",
        f"events {len(truth)} + deals {len(truth2)} rows", f"{len(rows)} + {len(got2)} rows, checksums equal")


# ------------------------------------------------------------------ the API stays down


def _one_line_no_secret(text: str) -> None:
    assert "\n" not in text and "demo-acme-key" not in text and text


def test_api_down_is_a_clear_error(connectors, tmp_path):
    # 3 attempts: every one fails (503s ask for a 1 s Retry-After), more would only take longer
    with start_reference_api(scale=0.01, seed=13, rate_limit=1000, fail_rate=1.0) as api:
        arn = connectors(api.url, max_attempts=3)
        with pytest.raises(athena_errors.ApiUnavailableError) as exc:
            scan("accounts")
        _one_line_no_secret(str(exc.value))
        response = appflow_handler(query_event(api.url, arn, "accounts"), None)
    assert response["isSuccess"] is False and not response.get("records")
    assert response["errorDetails"]["errorCode"] == "ServiceUnavailable", response["errorDetails"]
    _one_line_no_secret(response["errorDetails"]["errorMessage"])

    stopped = start_reference_api(scale=0.01, seed=13, rate_limit=1000)
    url = stopped.url
    stopped.stop()  # nothing listens on the port any more
    arn = connectors(url, max_attempts=3)
    with pytest.raises(athena_errors.ApiUnavailableError):
        scan("accounts")
    response2 = appflow_handler(query_event(url, arn, "accounts"), None)
    assert response2["isSuccess"] is False and response2["errorDetails"]["errorCode"] == "ServiceUnavailable"
    reliability_report.record(
        "faults", "API down (fail-rate 1.0; server stopped)", "every request fails / connection refused",
        "typed error, no rows", f"Athena {type(exc.value).__name__}; AppFlow {response['errorDetails']['errorCode']}")


def _pages_then(failure):
    """A stub list endpoint: page 1 of 3 records, then `failure` forever."""

    def handle(request):
        if request.query.get("cursor"):
            return failure
        return reply({"data": [{"id": f"acc_{i:06d}", "name": "x"} for i in range(1, 4)], "next_cursor": "p2"})

    return handle


@pytest.mark.parametrize("kind", ["503", "429"])
def test_failure_after_the_first_page_is_never_a_short_result(connectors, kind):
    failure = reply({"error": {"code": "x", "message": "down"}}, status=int(kind), Retry_After="0")
    with StubServer(_pages_then(failure)) as stub:
        arn = connectors(stub.url)
        expected_athena = (athena_errors.ApiUnavailableError if kind == "503"
                           else athena_errors.FederationThrottleException)
        with pytest.raises(expected_athena):
            scan("accounts", limit=None, max_block=1 << 30)
        response = appflow_handler(query_event(stub.url, arn, "accounts"), None)
    code = response["errorDetails"]["errorCode"] if not response["isSuccess"] else None
    assert response["isSuccess"] is False and not response.get("records") and not response.get("nextToken")
    assert code == ("ServiceUnavailable" if kind == "503" else "RateLimitExceeded")
    reliability_report.record(
        "faults", f"HTTP {kind} forever after page 1", "page 1 ok, then the API keeps failing",
        "error, not 3 rows that look complete", f"Athena {expected_athena.__name__}; AppFlow {code}")


# ------------------------------------------------------------------ garbage from the API


GARBAGE = {
    "truncated JSON": reply(b'{"data": [{"id": "acc_000001", "na', Content_Type="application/json"),
    "HTML error page": reply(b"<html><body>502 Bad Gateway</body></html>", Content_Type="text/html"),
    "records not a list": reply({"data": {"id": "acc_000001"}, "next_cursor": None}),
    "no records key": reply({"items": [], "next_cursor": None}),
}


@pytest.mark.parametrize("case", list(GARBAGE))
def test_garbage_bodies_are_clear_errors(connectors, case):
    with StubServer(lambda _r: GARBAGE[case]) as stub:
        arn = connectors(stub.url)
        with pytest.raises(athena_errors.AthenaConnectorError) as exc:
            scan("accounts", max_block=1 << 30)
        response = appflow_handler(query_event(stub.url, arn, "accounts"), None)
    assert not response["isSuccess"] and not response.get("records")
    assert type(exc.value) is not athena_errors.AthenaConnectorError  # a specific class, not "internal error"
    _one_line_no_secret(str(exc.value))
    reliability_report.record("faults", f"API body: {case}", "a 200 answer with a broken body",
                              "typed error, no rows",
                              f"Athena {type(exc.value).__name__}; AppFlow {response['errorDetails']['errorCode']}")


TS = "2023-05-01T00:00:00.000Z"


def _drifted(request):
    """Schema drift: a missing field, an unknown field, wrong types (employees as text, tags as a
    string, is_active as a number); JSON with a text/plain content type."""
    records = [
        {"id": "acc_000001", "updated_at": TS, "name": "ok", "employees": 10, "is_active": True, "tags": ["a"], "brand_new": {"x": 1}},
        {"id": "acc_000002", "updated_at": TS, "employees": "many", "is_active": 1, "tags": "a,b"},
        {"id": "acc_000003", "updated_at": TS, "name": 42, "employees": 7.5, "annual_revenue": "12.5", "address": "nowhere"},
    ]
    return reply({"data": records, "next_cursor": None}, Content_Type="text/plain")


_ACCEPTS = {"string": (str,), "int32": (int,), "int64": (int,), "double": (int, float), "boolean": (bool,),
            "decimal": (int, float, str), "timestamp": (str,), "date": (str,), "list": (list,),
            "struct": (dict,), "map": (dict,)}


def wrongly_typed(entity, records: list[dict]) -> int:
    """Independent count of values whose JSON type does not fit the column (walking api paths)."""
    bad = 0
    for record in records:
        for f in entity.fields:
            value = record
            for part in f.api_name.split("."):
                if value is None:
                    break
                if not isinstance(value, dict):
                    bad += 1
                    value = None
                    break
                value = value.get(part)
            if value is None:
                continue
            if isinstance(value, bool) and f.type.kind != "boolean" or not isinstance(value, _ACCEPTS[f.type.kind]):
                bad += 1
            elif f.type.kind == "list":
                bad += sum(1 for v in value if v is not None and not isinstance(v, _ACCEPTS[f.type.item.kind]))
    return bad


def test_schema_drift_nulls_bad_values_and_counts_them(connectors, capsys):
    with StubServer(_drifted) as stub:
        arn = connectors(stub.url, max_splits=1)
        capsys.readouterr()
        entity = load_catalog(catalog_path()).entity("accounts")
        table = scan("accounts", max_block=1 << 30)
        metrics = emf_metrics(capsys.readouterr().out)
        response = appflow_handler(query_event(stub.url, arn, "accounts"), None)
    rows = {r["id"]: r for r in actual_rows(entity, table)}
    assert sorted(rows) == ["acc_000001", "acc_000002", "acc_000003"]  # no row lost, none shifted
    assert rows["acc_000001"]["employees"] == 10 and rows["acc_000001"]["tags"] == ("a",)
    assert rows["acc_000002"]["employees"] is None and rows["acc_000002"]["name"] is None
    assert rows["acc_000003"]["employees"] is None and rows["acc_000003"]["address"] is None
    assert response["isSuccess"], response["errorDetails"]
    flows = {json.loads(r)["id"]: json.loads(r) for r in response["records"]}
    assert sorted(flows) == sorted(rows) and flows["acc_000002"].get("employees") is None
    assert "brand_new" not in flows["acc_000001"]
    bad_values = metrics.get("ValuesNulled")
    expected_bad = wrongly_typed(entity, _drifted(None).body["data"])
    assert expected_bad >= 6 and bad_values == expected_bad, metrics
    reliability_report.record("faults", "schema drift (missing/extra/wrongly typed fields)",
                              "3 records: missing fields, an unknown field, wrongly typed values (text for int, number for bool, …)",
                              f"3 rows, {expected_bad} values null and counted",
                              f"{len(rows)} rows (both connectors), ValuesNulled={int(bad_values)}")


def _drifted_split_field(request):
    """An API that filters on the records' real update times (updated_since/updated_until) but
    serializes two of them without a readable `updated_at` (missing, and not a timestamp)."""
    truth = {f"acc_{i:06d}": f"20{22 + i % 3}-0{1 + i % 9}-15T12:00:00.000Z" for i in range(1, 31)}
    since = request.query.get("updated_since", "0")
    until = request.query.get("updated_until", "9")
    records = []
    for rid, ts in truth.items():
        if not since <= ts < until:
            continue
        record = {"id": rid, "name": rid, "updated_at": ts}
        if rid == "acc_000007":
            del record["updated_at"]
        elif rid == "acc_000008":
            record["updated_at"] = "yesterday"
        records.append(record)
    return reply({"data": records, "next_cursor": None})


def test_drift_on_the_split_field_loses_no_row(connectors, monkeypatch):
    """A row whose split field arrives unreadable belongs to the window whose pushed bounds the
    API matched it with; a multi-split scan returns it exactly once."""
    with StubServer(_drifted_split_field) as stub:
        connectors(stub.url, max_splits=4)
        monkeypatch.setenv("SAASBRIDGE_ATHENA_MIN_PAGES_PER_SPLIT", "1")
        reset_container()
        table = scan("accounts", columns=["id", "updated_at"])
        windows = {(r.query.get("updated_since"), r.query.get("updated_until")) for r in stub.requests}
    ids = table.column("id").to_pylist()
    assert len(windows) > 1  # really split
    assert sorted(ids) == [f"acc_{i:06d}" for i in range(1, 31)]  # each row exactly once


# ------------------------------------------------------------------ slow API near the deadline


def test_slow_api_near_the_deadline_resumes_without_loss(connectors, monkeypatch):
    from appflow_connector import records as appflow_records

    # Every request takes 400 ms; a QueryData call may spend 1 s, a ReadRecords call 0.9 s.
    monkeypatch.setattr(appflow_records, "CALL_BUDGET_SECONDS", 1.0)
    with start_reference_api(scale=SCALE, seed=14, rate_limit=1000, latency_ms=400) as api:
        arn = connectors(api.url, max_splits=1)
        got, calls = extract(api.url, arn, "events", max_results=5000)
        truth = source_rows(api, "events")
        rows = appflow_rows("events", got)
        assert (len(rows), checksum(rows)) == (len(truth), checksum(truth))
        assert calls > 1  # one call could hold every row: the deadline cut calls short, the token resumed
        # Athena: one split for the whole table cannot be read in time; it fails fast and clearly.
        entity = load_catalog(catalog_path()).entity("events")
        monkeypatch.setattr(athena_driver, "Context", lambda: ShortContext(2.9))  # 2 s Lambda reserve
        started = time.monotonic()
        with pytest.raises(athena_errors.QueryDeadlineError):
            scan("events", max_block=1 << 30)
        assert time.monotonic() - started < 10  # failed, did not hang
        # Smaller splits (more of them) each fit the same deadline, and together return every row.
        monkeypatch.setenv("SAASBRIDGE_ATHENA_MAX_SPLITS", "8")
        monkeypatch.setenv("SAASBRIDGE_CATALOG", str(fast_catalog(Path(str(api.db_path)).parent, concurrency=8)))
        reset_container()
        stats: dict = {}
        table = scan("events", stats=stats, max_block=1 << 30)
        got2, truth2 = actual_rows(entity, table), source_rows(api, "events")
        assert (len(got2), checksum(got2)) == (len(truth2), checksum(truth2))
    reliability_report.record(
        "faults", "slow API near the deadline (400 ms per request)",
        f"AppFlow calls of 1 s; Athena Lambda with 0.9 s usable, 1 then {len(stats['splits'])} splits",
        f"events {len(truth)} rows (each connector)",
        f"AppFlow {len(rows)} rows over {calls} calls; Athena QueryDeadlineError with 1 split, "
        f"{len(got2)} rows with {len(stats['splits'])} splits")


# ------------------------------------------------------------------ shared rate budget


def athena_read_requests(table: str) -> tuple[list[dict], list[dict]]:
    """GetTable → GetTableLayout → GetSplits for a full scan; (splits, one ReadRecords event per split)."""
    from athena_connector import protocol as p

    get = athena_driver.invoke(p.build_get_table_request("saas", "crm", table))
    schema = p.decode_schema(get["schema"])
    cons = p.build_constraints({})
    layout = athena_driver.invoke(p.build_get_table_layout_request("saas", "crm", table, constraints=cons,
                                                                   schema=schema))
    splits = athena_driver.invoke(p.build_get_splits_request("saas", "crm", table, partitions=layout["partitions"],
                                                             partition_columns=[], constraints=cons))["splits"]
    events = [p.build_read_records_request("saas", "crm", table, schema=schema, split=s, constraints=cons,
                                           max_block_size=1 << 30, max_inline_block_size=1 << 30) for s in splits]
    return splits, events


def test_concurrent_splits_stay_under_the_shared_rate_budget(connectors, monkeypatch):
    """Eight splits read at once through one container's runtime: the rate the API sees stays
    within the catalog's budget (counted at the server)."""
    arrivals: list[float] = []
    lock = threading.Lock()

    def handle(request):
        with lock:
            arrivals.append(time.monotonic())
        n = len(arrivals)
        return reply({"data": [{"id": f"evt_{n:07d}", "occurred_at": "2023-01-01T00:00:00.000Z"}],
                      "next_cursor": None})

    rps = 10.0
    with StubServer(handle) as stub:
        connectors(stub.url, rps=rps, concurrency=8, max_splits=8)
        # events: the catalog's rows_per_day makes it worth many splits (a small table is one or
        # two); a split worth one page is enough, so the size rule cannot cut fewer than eight
        monkeypatch.setenv("SAASBRIDGE_ATHENA_MIN_PAGES_PER_SPLIT", "1")
        reset_container()
        splits, requests = athena_read_requests("events")
        assert len(splits) == 8
        failures: list[BaseException] = []

        def read(event):
            try:
                for _ in range(3):  # three queries' worth of reads, all at once
                    athena_driver.invoke(event)
            except BaseException as exc:  # noqa: BLE001 (reported below)
                failures.append(exc)

        threads = [threading.Thread(target=read, args=(e,)) for e in requests]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not failures, failures
    times = sorted(arrivals)
    assert len(times) >= 3 * len(splits)
    # token bucket: in any window of w seconds at most burst + rps * w requests
    worst = 0.0
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            window = times[j] - start
            allowed = rps + rps * window + 1  # +1: clock granularity between client and server
            worst = max(worst, (j - i + 1) / allowed)
    assert worst <= 1.0, worst
    span = times[-1] - times[0]
    reliability_report.record(
        "faults", "concurrent splits, shared rate budget", f"3 × {len(splits)} split reads at once, "
        f"budget {rps:.0f} req/s (burst {rps:.0f})", f"≤ {rps:.0f} + {rps:.0f}·t requests in any t seconds",
        f"{len(times)} requests in {span:.1f} s, peak {worst:.0%} of the budget")


# ------------------------------------------------------------------ updates during a listing


def test_updates_during_an_extract_lose_and_duplicate_nothing(connectors, tmp_path):
    import urllib3

    with start_reference_api(scale=SCALE, seed=15, rate_limit=1000, db_path=tmp_path / "api.sqlite") as api:
        arn = connectors(api.url)
        before = {r["id"] for r in dump_records(api.db_path, "acme", "contacts")}
        http = urllib3.PoolManager()
        touched: list[str] = []

        def patch_some(call: int) -> None:
            # move rows from both sides of the cursor to the end of updated_at order
            for cid in (f"con_{call * 7:06d}", f"con_{200 - call * 5:06d}"):
                resp = http.request("PATCH", f"{api.url}/v1/contacts/{cid}", body=json.dumps({"lead_score": 0.5}),
                                    headers={"Authorization": "Bearer demo-acme-key",
                                             "Content-Type": "application/json"})
                assert resp.status == 200, resp.data
                touched.append(cid)

        got, calls = extract(api.url, arn, "contacts", max_results=17, between_calls=patch_some)
        ids = [r["id"] for r in got]
        assert len(ids) == len(set(ids))
        assert set(ids) == before  # keyset order by id: updates never move a row across the cursor
        untouched = {r["id"] for r in dump_records(api.db_path, "acme", "contacts")} - set(touched)
        by_id = {r["id"]: r for r in appflow_rows("contacts", got)}
        truth = {r["id"]: r for r in source_rows(api, "contacts")}
        assert all(by_id[i] == truth[i] for i in untouched)
    reliability_report.record(
        "faults", "records updated during a paginated extract",
        f"{len(touched)} PATCHes between {calls} QueryData calls", f"{len(before)} rows, each once",
        f"{len(ids)} rows, {len(ids) - len(set(ids))} duplicates, untouched rows equal to the source")


def test_capture_helpers_are_consistent():
    """The checksum sees content changes and ignores order (so equal checksums mean equal rows)."""
    rows = [{"id": "a", "n": 1}, {"id": "b", "n": 2}]
    assert checksum(rows) == checksum(list(reversed(rows)))
    assert checksum(rows) != checksum([{"id": "a", "n": 1}, {"id": "b", "n": 3}])
    assert checksum(rows) != checksum(rows[:1])
