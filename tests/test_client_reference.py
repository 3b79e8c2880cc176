"""The client against the real reference API process, with the demo catalog."""

from __future__ import annotations

import pytest

from saasbridge.runtime import Runtime
from tests.conftest import DEMO_KEYS


@pytest.fixture(scope="module")
def runtime(reference_api):
    return Runtime.from_env({"SAASBRIDGE_API_URL": reference_api.url, "SAASBRIDGE_API_KEY": DEMO_KEYS["acme"]})


def test_lists_an_entity_to_the_end_exactly_with_resume(runtime):
    from demo_saas.data import generate  # the generator the server seeded its database from

    truth = [r["id"] for r in generate("contacts", tenant="acme", seed=42, scale=0.1)]
    client = runtime.client()
    contacts = runtime.catalog.entity("contacts")
    pages = client.list_pages(contacts, {}, page_size=97)
    head = [r["id"] for _, page in zip(range(3), pages, strict=False) for r in page.records]
    resume = client.list_pages(contacts, {}, page_size=97)  # a fresh listing, resumed mid-way
    first_three = [next(resume) for _ in range(3)]
    tail = [r["id"] for page in client.list_pages(contacts, {}, page_size=97, resume=first_three[-1].resume)
            for r in page.records]
    assert [r["id"] for p in first_three for r in p.records] == head
    assert sorted(head + tail) == sorted(truth) and len(set(head + tail)) == len(truth)
    assert client.stats.requests >= len(truth) // 97 + 3 and client.stats.bytes > 0


def test_get_by_id_and_ids_list_match_the_listing(runtime):
    client = runtime.client()
    accounts = runtime.catalog.entity("accounts")
    listed = next(client.list_pages(accounts, {}, page_size=5)).records
    assert client.get(accounts, listed[2]["id"]) == listed[2]
    assert client.get(accounts, "acc_does_not_exist") is None
    fetched = client.get_many(accounts, [r["id"] for r in listed])
    assert sorted(fetched, key=lambda r: r["id"]) == listed


def test_oauth2_against_the_reference_token_endpoint(reference_api):
    runtime = Runtime.from_env({
        "SAASBRIDGE_API_URL": reference_api.url,
        "SAASBRIDGE_AUTH_TYPE": "oauth2_client_credentials",
        "SAASBRIDGE_CLIENT_ID": "demo-acme-client",
        "SAASBRIDGE_CLIENT_SECRET": "demo-acme-secret",
    })
    client = runtime.client()
    page = next(client.list_pages(runtime.catalog.entity("deals"), {}, page_size=3))
    assert len(page.records) == 3 and client.auth.fetches == 1


def test_write_round_trip_on_predictions(runtime):
    client = runtime.client()
    predictions = runtime.catalog.entity("predictions")
    records = [
        {"entity_type": "account", "entity_id": "acc_000001", "model": "churn-v1", "score": 0.25},
        {"entity_type": "account", "entity_id": "acc_000002", "model": "churn-v1", "score": "not a number"},
        {"entity_type": "account", "entity_id": "acc_000003", "model": "churn-v1", "score": 0.75},
    ]
    results = client.write(predictions, "insert", records)
    assert [r.ok for r in results] == [True, False, True]
    for record, result in zip(records, results, strict=True):
        if result.ok:
            stored = client.get(predictions, result.id)
            assert stored["score"] == record["score"] and stored["entity_id"] == record["entity_id"]
    deleted = client.write(predictions, "delete", [{"id": r.id} for r in results if r.ok])
    assert all(r.ok for r in deleted)
    assert all(client.get(predictions, r.id) is None for r in results if r.ok)
