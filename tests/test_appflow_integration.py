"""The connector against the real reference API (a process) and Secrets Manager on the moto server:
full extracts equal the source rows exactly, incremental windows catch exactly the changed rows,
and paging through nextToken under 429s loses and duplicates nothing."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import urllib3

from appflow_connector import session
from appflow_connector.handler import lambda_handler
from conformance.cases import api_value
from demo_saas.store import dump_records
from tests.helpers import norm, put_secret

pytestmark = pytest.mark.usefixtures("fresh_session")


def make_secret(moto_url: str, name: str) -> str:
    return put_secret(name, {"apiKey": "demo-acme-key"}, moto_url)

def query_all(api_url, arn, entity, *, expression=None, max_results=1000, fields=None):
    """Page through QueryData as AppFlow does; returns (records, calls)."""
    token, records, calls = None, [], 0
    while True:
        event = {
            "type": "QueryDataRequest", "entityIdentifier": entity, "selectedFieldNames": fields,
            "filterExpression": expression, "maxResults": max_results, "nextToken": token,
            "connectorContext": {"apiVersion": "v1", "connectorRuntimeSettings": {"instanceUrl": api_url},
                                 "credentials": {"secretArn": arn, "authenticationType": "ApiKey"}},
        }  # fmt: skip
        response = lambda_handler(event, None)
        calls += 1
        assert response["isSuccess"], response["errorDetails"]
        records += [json.loads(r, parse_float=Decimal) for r in response["records"]]
        token = response["nextToken"]
        if not token:
            return records, calls
        assert calls < 10_000




@pytest.mark.parametrize("entity", ["accounts", "contacts", "deals", "events", "predictions"])
def test_full_extract_equals_source_rows(entity, reference_api, aws_env):
    arn = make_secret(aws_env.url, "appflow!it-full")
    cat = session.catalog()
    spec = cat.entity(entity)
    got, _ = query_all(reference_api.url, arn, entity, max_results=777)
    truth = dump_records(reference_api.db_path, "acme", entity)
    assert len(got) == len(truth)
    assert [r["id"] for r in got] == [t["id"] for t in truth]
    for mine, source in zip(got, truth, strict=True):
        for f in spec.fields:
            assert norm(mine.get(f.name)) == norm(api_value(source, f.api_name)), (entity, mine["id"], f.name)


def test_filter_and_limit_select_exactly_the_matching_rows(reference_api, aws_env):
    arn = make_secret(aws_env.url, "appflow!it-filter")
    truth = dump_records(reference_api.db_path, "acme", "accounts")
    got, calls = query_all(
        reference_api.url, arn, "accounts", expression="country in ('DE', 'FR') and employees > 50",
        max_results=7, fields=["id", "country"],
    )  # fmt: skip
    expected = [t["id"] for t in truth if t["country"] in ("DE", "FR") and (t["employees"] or 0) > 50]
    assert [r["id"] for r in got] == expected and expected
    assert all(set(r) == {"id", "country"} for r in got)
    limited, _ = query_all(
        reference_api.url, arn, "accounts", expression="country = 'DE' limit 11", max_results=4
    )
    assert [r["id"] for r in limited] == [t["id"] for t in truth if t["country"] == "DE"][:11]


def test_incremental_window_after_patch_extracts_exactly_the_changed_rows(aws_env, tmp_path):
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.05, seed=3, rate_limit=1000, db_path=tmp_path / "api.sqlite") as api:
        arn = make_secret(aws_env.url, "appflow!it-incremental")
        before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        http = urllib3.PoolManager()
        changed = ["acc_000002", "acc_000007", "acc_000050"]
        for acc in changed:
            resp = http.request(
                "PATCH", f"{api.url}/v1/accounts/{acc}", body=json.dumps({"employees": 4242}),
                headers={"Authorization": "Bearer demo-acme-key", "Content-Type": "application/json"},
            )  # fmt: skip
            assert resp.status == 200, resp.data
        after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        window = f"updated_at between {before:%Y-%m-%dT%H:%M:%S.%f}"[:-3] + "Z"
        window += f" and {after:%Y-%m-%dT%H:%M:%S.%f}"[:-3] + "Z"
        got, _ = query_all(api.url, arn, "accounts", expression=window)
        assert sorted(r["id"] for r in got) == changed
        assert all(r["employees"] == 4242 for r in got)


def test_throttled_paging_loses_nothing(aws_env, tmp_path):
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.05, seed=5, rate_limit=5, db_path=tmp_path / "api.sqlite") as api:
        arn = make_secret(aws_env.url, "appflow!it-throttle")
        got, calls = query_all(api.url, arn, "contacts", max_results=40, fields=["id"])
        truth = dump_records(api.db_path, "acme", "contacts")
        assert [r["id"] for r in got] == [t["id"] for t in truth]
        assert calls >= len(truth) // 40


def test_write_back_then_read_back_round_trips(aws_env, tmp_path):
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.02, seed=9, rate_limit=1000, db_path=tmp_path / "api.sqlite") as api:
        arn = make_secret(aws_env.url, "appflow!it-write")
        rows = [
            {"id": f"pred_it_{i:03d}", "entity_type": "account", "entity_id": f"acc_{i:06d}", "model": "m1",
             "score": i / 7, "label": None if i % 3 else "hot"}
            for i in range(1, 8)
        ]  # fmt: skip
        ctx = {"apiVersion": "v1", "connectorRuntimeSettings": {"instanceUrl": api.url},
               "credentials": {"secretArn": arn, "authenticationType": "ApiKey"}}  # fmt: skip
        bad = json.dumps({"id": "pred_bad", "entity_type": "account"})  # missing required fields
        event = {"type": "WriteDataRequest", "entityIdentifier": "predictions", "operation": "UPSERT",
                 "idFieldNames": ["id"], "records": [json.dumps(r) for r in rows] + [bad], "allOrNone": False,
                 "connectorContext": ctx}  # fmt: skip
        response = lambda_handler(event, None)
        results = response["writeRecordResults"]
        assert [r["isSuccess"] for r in results] == [True] * len(rows) + [False]
        assert response["errorDetails"]["errorCode"] == "PartialWriteFailure"
        got, _ = query_all(api.url, arn, "predictions")
        by_id = {r["id"]: r for r in got}
        assert set(by_id) == {r["id"] for r in rows}
        for r in rows:
            assert norm(by_id[r["id"]]["score"]) == norm(r["score"]) and by_id[r["id"]]["label"] == r["label"]
