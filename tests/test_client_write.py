"""Writes against a loopback server with the reference API's write contract: batches, per-item
errors by index, per-record paths, refused records reported (not raised), one result per record."""

from __future__ import annotations

import itertools
import threading

import pytest

from saasbridge.catalog.model import Auth, WriteOperation
from saasbridge.client import Credentials, SaasClient
from saasbridge.errors import QueryError
from saasbridge.local.httpstub import StubReply, StubRequest, StubServer, reply, stub_catalog

WRITES = (
    WriteOperation(op="insert", method="POST", path="/v1/things", batch_size=10, body_key="data",
                   result_path="data", errors_path="errors"),
    WriteOperation(op="update", method="PATCH", path="/v1/things/{id}", body_key=None),
    WriteOperation(op="upsert", method="PUT", path="/v1/things/{id}", body_key=None),
    WriteOperation(op="delete", method="DELETE", path="/v1/things/{id}", body_key=None),
)


def valid(record: dict) -> bool:
    return isinstance(record.get("n"), int)


class WritableApi:
    """An in-memory store: the ground truth of what was written."""

    def __init__(self):
        self.store: dict[str, dict] = {}
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    def __call__(self, request: StubRequest) -> StubReply:
        with self.lock:
            if request.method == "POST":
                created, errors = [], []
                for index, item in enumerate(request.json()["data"]):
                    if not valid(item):
                        errors.append({"index": index, "code": "invalid", "message": "n must be an integer"})
                    elif item.get("id") in self.store:
                        errors.append({"index": index, "code": "duplicate", "message": "id exists"})
                    else:
                        item = {"id": f"t_{next(self.ids)}", **item}
                        self.store[item["id"]] = item
                        created.append(item)
                return reply({"data": created, "errors": errors})
            record_id = request.path.rsplit("/", 1)[-1]
            if request.method == "PUT":
                self.store[record_id] = {**request.json(), "id": record_id}
                return reply(self.store[record_id])
            if record_id not in self.store:
                return reply({"error": {"code": "not_found", "message": f"no thing {record_id}"}}, 404)
            if request.method == "DELETE":
                del self.store[record_id]
                return StubReply(status=204)
            self.store[record_id].update(request.json())
            return reply(self.store[record_id])


@pytest.fixture
def api():
    handler = WritableApi()
    with StubServer(handler) as server:
        handler.server = server
        yield handler


def make_client(api) -> SaasClient:
    return SaasClient(stub_catalog(api.server.url, writes=WRITES))


def test_batched_insert_reports_each_record_in_order(api):
    records = [{"n": i} if i % 7 else {"n": f"bad-{i}"} for i in range(25)]
    client = make_client(api)
    results = client.write(client.catalog.entity("things"), "insert", records)
    assert len(results) == len(records)
    assert len(api.server.requests) == 3  # 10 + 10 + 5
    for record, result in zip(records, results, strict=True):
        assert result.ok == valid(record)
        if result.ok:
            assert api.store[result.id]["n"] == record["n"]  # the id is the one the API gave this record
        else:
            assert "n must be an integer" in result.error
    assert len(api.store) == sum(map(valid, records))
    assert len({r.id for r in results if r.ok}) == len(api.store)


def test_per_record_writes_report_a_refused_record_and_go_on(api):
    client = make_client(api)
    things = client.catalog.entity("things")
    created = client.write(things, "insert", [{"n": 1}, {"n": 2}])
    ids = [r.id for r in created]
    updates = [{"id": ids[0], "n": 10}, {"id": "t_missing", "n": 0}, {"n": 5}, {"id": ids[1], "n": 20}]
    results = client.write(things, "update", updates)
    assert [r.ok for r in results] == [True, False, False, True]
    assert "404" in results[1].error and "no thing t_missing" in results[1].error
    assert "'id'" in results[2].error
    assert {k: v["n"] for k, v in api.store.items()} == {ids[0]: 10, ids[1]: 20}
    assert "id" not in api.server.requests[-1].json()  # the id travels in the path

    upserted = client.write(things, "upsert", [{"id": "t_new", "n": 3}])
    assert upserted[0].ok and api.store["t_new"] == {"id": "t_new", "n": 3}
    deleted = client.write(things, "delete", [{"id": ids[0]}, {"id": ids[0]}])
    assert [r.ok for r in deleted] == [True, False] and ids[0] not in api.store


def test_a_failure_that_stops_all_writes_is_reported_for_every_record_left():
    answers = iter([reply({"data": [{"id": "a", "n": 0}], "errors": []}), reply({}, 500)])
    with StubServer(lambda r: next(answers)) as server:
        catalog = stub_catalog(server.url, writes=(WriteOperation("insert", "POST", "/v1/things", batch_size=1,
                                                                  body_key="data", result_path="data"),))
        client = SaasClient(catalog)
        results = client.write(catalog.entity("things"), "insert", [{"n": 0}, {"n": 1}, {"n": 2}])
    assert results[0].ok and results[0].id == "a"
    assert [r.ok for r in results[1:]] == [False, False]
    assert all("not written" in r.error and "HTTP 500" in r.error for r in results[1:])
    assert len(server.requests) == 2  # a POST is not repeated after a 500, nothing sent after


def test_refused_credentials_fail_every_record_without_leaking_them():
    with StubServer(lambda r: reply({"error": {"message": "bad key"}}, 401)) as server:
        catalog = stub_catalog(server.url, writes=WRITES, auth=Auth(type="bearer"))
        client = SaasClient(catalog, Credentials({"apiKey": "secret-key-42"}))
        results = client.write(catalog.entity("things"), "update", [{"id": "a", "n": 1}, {"id": "b", "n": 2}])
    assert [r.ok for r in results] == [False, False]
    assert all("HTTP 401" in r.error and "secret-key-42" not in r.error for r in results)
    assert len(server.requests) == 1


def test_unsupported_operation_is_a_clear_error(api):
    client = SaasClient(stub_catalog(api.server.url, writes=WRITES[:1]))
    with pytest.raises(QueryError, match="does not support delete; supported: insert"):
        client.write(client.catalog.entity("things"), "delete", [{"id": "x"}])


def test_static_params_go_with_writes_too():
    """An API version in the catalog's `params` reaches batch and per-record writes."""
    import dataclasses

    api = WritableApi()
    with StubServer(api) as server:
        catalog = dataclasses.replace(stub_catalog(server.url, writes=WRITES), params=(("api-version", "2024-01"),))
        client = SaasClient(catalog)
        entity = catalog.entities[0]
        made = client.write(entity, "insert", [{"n": 1}, {"n": 2}])
        client.write(entity, "update", [{"id": made[0].id, "n": 3}])
        client.write(entity, "delete", [{"id": made[1].id}])
    assert all(r.ok for r in made)
    assert [r.values("api-version") for r in server.requests] == [["2024-01"]] * 3
