"""Writes on the reference API (PATCH, POST with per-item errors, PUT upsert, DELETE) and
pagination that stays exact while rows are written during a listing."""

from __future__ import annotations

import random

import pytest
import requests

from demo_saas import dump_records

KEYS = {"acme": "demo-acme-key", "globex": "demo-globex-key"}


def call(server, method: str, path: str, *, tenant: str = "acme", **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {KEYS[tenant]}"}
    return requests.request(method, server.url + path, headers=headers, timeout=30, **kwargs)


def by_id(server, tenant: str, entity: str) -> dict[str, dict]:
    return {r["id"]: r for r in dump_records(server.db_path, tenant, entity)}


def test_patch_updates_fields_and_bumps_updated_at_past_every_row(reference_api):
    before = by_id(reference_api, "acme", "accounts")
    latest = max(r["updated_at"] for r in before.values())
    target = before["acc_000010"]
    response = call(reference_api, "PATCH", "/v1/accounts/acc_000010",
                    json={"industry": None, "tags": ["patched"], "address": {"city": "Oslo"}})
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["industry"] is None and got["tags"] == ["patched"]
    assert got["address"] == {"street": None, "city": "Oslo", "postal_code": None, "country": None}
    assert got["updated_at"] > latest and got["created_at"] == target["created_at"]
    after = by_id(reference_api, "acme", "accounts")
    assert after["acc_000010"] == got
    assert {k: v for k, v in after.items() if k != "acc_000010"} == {k: v for k, v in before.items() if k != "acc_000010"}
    assert by_id(reference_api, "globex", "accounts")["acc_000010"]["tags"] != ["patched"]


@pytest.mark.parametrize(
    "body",
    [{"employees": "many"}, {"is_active": 1}, {"nope": 1}, {"id": "acc_9"}, {"updated_at": "2024-01-01T00:00:00Z"},
     {"tags": "a,b"}, {"address": {"planet": "Mars"}}, {"name": None}, [1, 2], "text"],
)
def test_patch_rejects_bad_bodies_with_400(reference_api, body):
    before = by_id(reference_api, "acme", "accounts")["acc_000011"]
    response = call(reference_api, "PATCH", "/v1/accounts/acc_000011", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"
    assert by_id(reference_api, "acme", "accounts")["acc_000011"] == before


def test_patch_errors_for_missing_rows_invalid_json_and_events(reference_api):
    assert call(reference_api, "PATCH", "/v1/deals/deal_999999", json={"amount": 1}).status_code == 404
    response = requests.patch(reference_api.url + "/v1/deals/deal_000001", data=b"{not json", timeout=10,
                              headers={"Authorization": "Bearer demo-acme-key", "Content-Type": "application/json"})
    assert response.status_code == 400
    response = call(reference_api, "PATCH", "/v1/events/evt_0000001", json={"type": "call"})
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_post_creates_valid_items_and_reports_the_others_by_index(reference_api):
    items = [
        {"entity_type": "accounts", "entity_id": "acc_000001", "model": "churn-v1", "score": 0.91, "label": "churn"},
        {"entity_type": "accounts", "entity_id": "acc_000002", "model": "churn-v1"},  # no score
        {"id": "p-fixed-1", "entity_type": "deals", "entity_id": "deal_000003", "model": "win-v2", "score": 0.2},
        {"id": "p-fixed-1", "entity_type": "deals", "entity_id": "deal_000004", "model": "win-v2", "score": 0.3},
        {"entity_type": "accounts", "entity_id": "acc_000003", "model": "churn-v1", "score": "high"},
        {"entity_type": "accounts", "entity_id": "acc_000004", "model": "churn-v1", "score": 1, "extra": 1},
        {"entity_type": "accounts", "entity_id": "acc_000005", "model": "churn-v1", "score": 0},
    ]
    response = call(reference_api, "POST", "/v1/predictions", json={"data": items})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["index"] for e in body["errors"]] == [1, 3, 4, 5]
    assert {e["code"] for e in body["errors"]} == {"invalid", "duplicate_id"}
    created = body["data"]
    assert [c["entity_id"] for c in created] == ["acc_000001", "deal_000003", "acc_000005"]
    assert created[1]["id"] == "p-fixed-1" and created[0]["label"] == "churn" and created[2]["label"] is None
    stored = by_id(reference_api, "acme", "predictions")
    for record in created:
        assert stored[record["id"]] == record
        assert record["created_at"] == record["updated_at"]
    # an id that already exists is a per-item error on the next request too
    again = call(reference_api, "POST", "/v1/predictions", json={"data": [items[2]]}).json()
    assert again["data"] == [] and again["errors"][0]["code"] == "duplicate_id"
    # another tenant sees none of it
    assert call(reference_api, "GET", f"/v1/predictions/{created[0]['id']}", tenant="globex").status_code == 404


@pytest.mark.parametrize("body", [{"data": "x"}, {"items": []}, [], {"data": [{}] * 101}])
def test_post_rejects_malformed_batches(reference_api, body):
    response = call(reference_api, "POST", "/v1/predictions", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


def test_put_upserts_and_delete_removes(reference_api):
    record = {"entity_type": "contacts", "entity_id": "con_000009", "model": "lead-v1", "score": 12.5}
    created = call(reference_api, "PUT", "/v1/predictions/lead:con_000009", json=record)
    assert created.status_code == 200, created.text
    first = created.json()
    assert first["id"] == "lead:con_000009" and first["label"] is None
    replaced = call(reference_api, "PUT", "/v1/predictions/lead:con_000009", json={**record, "score": 40, "label": "hot"})
    second = replaced.json()
    assert second["score"] == 40 and second["label"] == "hot"
    assert second["created_at"] == first["created_at"] and second["updated_at"] > first["updated_at"]
    assert by_id(reference_api, "acme", "predictions")["lead:con_000009"] == second
    mismatch = call(reference_api, "PUT", "/v1/predictions/lead:con_000009", json={**record, "id": "other"})
    assert mismatch.status_code == 400
    assert call(reference_api, "PUT", "/v1/predictions/x", json={"score": 1}).status_code == 400

    assert call(reference_api, "DELETE", "/v1/predictions/lead:con_000009").status_code == 204
    assert "lead:con_000009" not in by_id(reference_api, "acme", "predictions")
    assert call(reference_api, "DELETE", "/v1/predictions/lead:con_000009").status_code == 404
    assert call(reference_api, "GET", "/v1/predictions/lead:con_000009").status_code == 404
    assert call(reference_api, "DELETE", "/v1/accounts/acc_000001").status_code == 405


# -- pagination while the data changes -------------------------------------------------------------


def _pages(server, entity: str, **params):
    cursor = None
    while True:
        body = call(server, "GET", f"/v1/{entity}", params=dict(params, **({"cursor": cursor} if cursor else {}))).json()
        yield body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return


def test_id_order_listing_returns_every_row_once_while_rows_are_patched(reference_api):
    rng = random.Random(1)
    all_ids = sorted(by_id(reference_api, "acme", "contacts"))
    seen: list[str] = []
    for page in _pages(reference_api, "contacts", limit=50):
        seen.extend(r["id"] for r in page)
        behind, ahead = rng.choice(seen), rng.choice(all_ids)
        for id_ in (behind, ahead):
            assert call(reference_api, "PATCH", f"/v1/contacts/{id_}", json={"lead_score": rng.random()}).status_code == 200
    assert seen == all_ids


def test_updated_at_listing_never_loses_a_row_and_ends_with_the_latest_versions(reference_api):
    rng = random.Random(2)
    start = by_id(reference_api, "acme", "deals")
    patched_after_seen: set[str] = set()
    occurrences: dict[str, list[dict]] = {}
    cursor: str | None = None
    while True:
        params = {"sort": "updated_at", "limit": 40, **({"cursor": cursor} if cursor else {})}
        body = call(reference_api, "GET", "/v1/deals", params=params).json()
        for r in body["data"]:
            occurrences.setdefault(r["id"], []).append(r)
        cursor = body["next_cursor"]
        if cursor is None:
            break
        unseen = [i for i in start if i not in occurrences]
        for id_ in [rng.choice(list(occurrences))] + ([rng.choice(unseen)] if unseen else []):
            if id_ in occurrences:
                patched_after_seen.add(id_)
            response = call(reference_api, "PATCH", f"/v1/deals/{id_}", json={"probability": rng.randint(0, 100)})
            assert response.status_code == 200
    final = by_id(reference_api, "acme", "deals")
    assert set(occurrences) == set(start)  # nothing lost
    assert patched_after_seen
    for id_, occ in occurrences.items():
        assert occ[-1] == final[id_]  # the listing ends having delivered every row's latest version
        if id_ in patched_after_seen:
            assert len(occ) >= 2  # updated after it was read: delivered again
        else:
            assert len(occ) == 1  # otherwise exactly once


def test_listing_predictions_while_others_are_inserted(reference_api):
    seed_items = [{"entity_type": "t", "entity_id": f"e{i}", "model": "m", "score": i} for i in range(60)]
    assert call(reference_api, "POST", "/v1/predictions", json={"data": seed_items}).json()["errors"] == []
    existing = sorted(by_id(reference_api, "acme", "predictions"))
    seen: list[str] = []
    for n, page in enumerate(_pages(reference_api, "predictions", limit=7)):
        seen.extend(r["id"] for r in page)
        new = [{"id": f"a{n:03d}", "entity_type": "t", "entity_id": "x", "model": "m", "score": 1},
               {"entity_type": "t", "entity_id": "y", "model": "m", "score": 2}]
        assert call(reference_api, "POST", "/v1/predictions", json={"data": new}).json()["errors"] == []
    assert len(seen) == len(set(seen))  # no duplicates
    assert set(existing) <= set(seen)  # every row that existed throughout, exactly once


def test_batch_upsert_creates_replaces_and_reports_the_others_by_index(reference_api):
    """PUT /v1/predictions {"data": [...]}: keyed by id, one result per item, partial failures."""
    first = {"id": "bu-1", "entity_type": "accounts", "entity_id": "acc_000001", "model": "m", "score": 0.5}
    assert call(reference_api, "PUT", "/v1/predictions/bu-1", json=first).status_code == 200
    before = by_id(reference_api, "acme", "predictions")["bu-1"]
    items = [
        {**first, "score": None, "text": "replaced", "label": "x"},  # replaces bu-1: score becomes null
        {"id": "bu-2", "entity_type": "accounts", "entity_id": "acc_000002", "model": "m", "embedding": [0.25, -1.0]},
        {"entity_type": "accounts", "entity_id": "acc_000003", "model": "m", "score": 1.0},  # no id
        {"id": "bu-2", "entity_type": "accounts", "entity_id": "acc_000004", "model": "m", "score": 2.0},  # repeats
        {"id": "bu-3", "entity_type": "accounts", "entity_id": "acc_000005", "model": "m"},  # no output
        {"id": "bu-4", "entity_type": "accounts", "entity_id": "acc_000006", "model": "m", "embedding": [1, "x"]},
    ]
    body = call(reference_api, "PUT", "/v1/predictions", json={"data": items}).json()
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (2, "invalid"), (3, "duplicate_id"), (4, "invalid"), (5, "invalid")]
    assert [r["id"] for r in body["data"]] == ["bu-1", "bu-2"]
    stored = by_id(reference_api, "acme", "predictions")
    assert stored["bu-1"] == body["data"][0] and stored["bu-2"] == body["data"][1]
    assert stored["bu-1"]["text"] == "replaced" and stored["bu-1"]["score"] is None
    assert stored["bu-1"]["created_at"] == before["created_at"] and stored["bu-1"]["updated_at"] > before["updated_at"]
    assert stored["bu-2"]["embedding"] == [0.25, -1.0]
    assert "bu-3" not in stored and "bu-4" not in stored
    too_many = call(reference_api, "PUT", "/v1/predictions", json={"data": [first] * 101})
    assert too_many.status_code == 400
