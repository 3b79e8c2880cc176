"""Tenant isolation end to end: with tenant A's credentials both connectors return exactly tenant
A's rows (never one of B's), also when one warm container serves A, B and A again in turn."""

from __future__ import annotations

import json

import pytest

from appflow_connector import session
from appflow_connector.handler import lambda_handler as appflow_handler
from athena_connector.handler import reset_container
from demo_saas import dump_records
from saasbridge.catalog import load_catalog
from saasbridge.runtime import catalog_path
from tests import reliability_report
from tests.athena_driver import actual_rows, scan, sort_key, truth_rows
from tests.helpers import put_secret
from tests.test_faults import extract

KEYS = {"acme": "demo-acme-key", "globex": "demo-globex-key"}


def _secret(tenant: str) -> str:
    return put_secret(f"isolation-{tenant}", {"apiKey": KEYS[tenant]})


def _appflow_rows(api_url: str, arn: str, entity_name: str) -> list[dict]:
    entity = load_catalog(catalog_path()).entity(entity_name)
    records, _ = extract(api_url, arn, entity_name)
    plain = [{f.api_name: r.get(f.name) for f in entity.fields if "." not in f.api_name} for r in records]
    return truth_rows(entity, plain, [f.name for f in entity.fields if "." not in f.api_name])


def _keys(rows: list[dict]) -> set[str]:
    return set(map(sort_key, rows))


@pytest.fixture
def env(reference_api, aws_env, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_API_URL", reference_api.url)
    monkeypatch.delenv("SAASBRIDGE_CATALOG", raising=False)
    monkeypatch.delenv("spill_bucket", raising=False)
    session.reset()
    yield reference_api
    reset_container()
    session.reset()


@pytest.mark.parametrize("entity_name", ["accounts", "deals"])
def test_each_tenant_sees_exactly_its_own_rows(env, monkeypatch, entity_name):
    entity = load_catalog(catalog_path()).entity(entity_name)
    flat = [f.name for f in entity.fields if "." not in f.api_name]
    truth = {t: truth_rows(entity, dump_records(env.db_path, t, entity_name)) for t in KEYS}
    flat_truth = {t: truth_rows(entity, dump_records(env.db_path, t, entity_name), flat) for t in KEYS}
    assert _keys(truth["acme"]) != _keys(truth["globex"])  # the tenants' data really differ
    arns = {t: _secret(t) for t in KEYS}
    delivered = {}
    for tenant in ["acme", "globex", "acme"]:  # one warm container, switching tenants
        got = _appflow_rows(env.url, arns[tenant], entity_name)
        other = "globex" if tenant == "acme" else "acme"
        assert _keys(got) == _keys(flat_truth[tenant]) and len(got) == len(flat_truth[tenant])
        assert not (_keys(got) - _keys(flat_truth[tenant])) and _keys(got) != _keys(flat_truth[other])
        monkeypatch.setenv("SAASBRIDGE_API_KEY", KEYS[tenant])
        reset_container()  # a Lambda deployment per tenant: its own environment
        rows = actual_rows(entity, scan(entity_name))
        assert _keys(rows) == _keys(truth[tenant]) and len(rows) == len(truth[tenant])
        delivered[tenant] = len(rows)
    reliability_report.record(
        "isolation", f"tenants acme/globex, {entity_name}", "A, B, A through AppFlow (one warm container) "
        "and Athena", f"acme {len(truth['acme'])}, globex {len(truth['globex'])} rows, each only its own",
        f"acme {delivered['acme']}, globex {delivered['globex']} rows, equal to each tenant's data")


def test_retrieve_by_id_never_crosses_tenants(env):
    arn = _secret("globex")
    acme = dump_records(env.db_path, "acme", "accounts")[:5]
    acme_ids = [r["id"] for r in acme]
    globex = {r["id"]: r for r in dump_records(env.db_path, "globex", "accounts")}
    response = appflow_handler({
        "type": "RetrieveDataRequest", "entityIdentifier": "accounts", "ids": acme_ids,
        "connectorContext": {"connectorRuntimeSettings": {"instanceUrl": env.url},
                             "credentials": {"secretArn": arn, "authenticationType": "ApiKey"}}}, None)
    assert response["isSuccess"], response["errorDetails"]
    got = [json.loads(r) for r in response["records"]]
    # whatever ids are asked for, the records are globex's own (same id, globex's values) or absent
    assert all(r["id"] in globex and r["name"] == globex[r["id"]]["name"] for r in got)
    assert {r["id"] for r in got} == {i for i in acme_ids if i in globex}
    assert any(a["name"] != globex.get(a["id"], {}).get("name") for a in acme)  # a leak would show
