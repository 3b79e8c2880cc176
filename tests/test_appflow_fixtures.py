"""Every recorded AppFlow event (tests/fixtures/appflow/requests) gets a response with the shape of
its recorded counterpart (keys, nesting, JSON types), from the real connector against the reference
API, with credentials in a Secrets Manager secret on the moto server.

The fixtures describe a fictional "Acme Helpdesk" Ticket entity; each event is re-pointed at the
reference API (entity, field names, ids, instance URL, secret ARN) and is otherwise sent unchanged.
"""

from __future__ import annotations

import dataclasses
import json

import orjson
import pytest
from custom_connector_sdk.lambda_handler import requests as sdk_requests

from appflow_connector import session
from appflow_connector.handler import lambda_handler
from conformance.cases import APPFLOW_FIXTURES as FIXTURES
from conformance.cases import FAILS_ON_PURPOSE, PAIRS, repoint
from tests.helpers import put_secret


def test_every_request_fixture_is_paired():
    assert set(PAIRS) == {p.name for p in (FIXTURES / "requests").glob("*.json")}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_request_fixture_reads_into_the_python_sdk_model(name):
    """The fixtures the Java SDK's model wrote (explicit nulls included) still read into the Python SDK's."""
    event = json.loads((FIXTURES / "requests" / name).read_text())
    request = getattr(sdk_requests, event["type"]).from_dict(event)
    assert type(request).__name__ == event["type"]


def shape_errors(expected, actual, path="$") -> list[str]:
    """Differences in keys, nesting and JSON types (null on either side matches any type)."""
    if expected is None or actual is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: object expected, got {type(actual).__name__}"]
        if path.endswith("connectorRuntimeSettings") or path.endswith("errorsByInputField"):
            return []  # maps keyed by setting name
        out = [f"{path}: missing key {k}" for k in expected.keys() - actual.keys()]
        out += [f"{path}: extra key {k}" for k in actual.keys() - expected.keys()]
        for k in expected.keys() & actual.keys():
            out += shape_errors(expected[k], actual[k], f"{path}.{k}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: array expected"]
        if expected and actual:
            return [e for item in actual for e in shape_errors(expected[0], item, f"{path}[]")][:5]
        return []
    kinds = {bool: "bool", int: "number", float: "number", str: "string"}
    if kinds.get(type(expected)) != kinds.get(type(actual)):
        return [f"{path}: {kinds.get(type(expected))} expected, got {type(actual).__name__}"]
    return []


@pytest.fixture(scope="module")
def secret_arn(moto_server):
    return put_secret("appflow!123456789012-saasbridge-fixture-profile",
                      {"apiKey": "demo-acme-key", "accessToken": "demo-acme-key"}, moto_server.url)


@pytest.fixture
def grouped_catalog(monkeypatch):
    """The demo catalog with `predictions` under a group, so ListEntities has something to nest."""
    session.reset()
    cat = session.catalog()
    entities = tuple(
        dataclasses.replace(e, group="ml") if e.name == "predictions" else e for e in cat.entities
    )
    monkeypatch.setattr(session, "_catalog", dataclasses.replace(cat, entities=entities))
    yield
    session.reset()


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_response_has_the_recorded_shape(name, reference_api, secret_arn, aws_env, grouped_catalog):
    event = repoint(json.loads((FIXTURES / "requests" / name).read_text()), reference_api.url, secret_arn)
    if event.get("nextToken"):  # a token only this connector can issue: get one from the previous page
        if event.get("filterExpression"):  # same between-window form, wide enough to need a second page
            event["filterExpression"] = (
                "updated_at between 2000-01-01T00:00:00.000Z and 2100-01-01T00:00:00.000Z"
            )
        first = dict(event, nextToken=None)
        if event["type"] == "ListEntitiesRequest":
            first["maxResult"] = 2
        else:
            first["maxResults"] = 3
        issued = lambda_handler(first, None)
        assert issued["isSuccess"], issued
        event["nextToken"] = issued["nextToken"]
        assert event["nextToken"]
    response = lambda_handler(event, None)
    orjson.dumps(response)  # marshals like the Lambda runtime would
    expected = json.loads((FIXTURES / "responses" / PAIRS[name]).read_text())
    assert shape_errors(expected, response) == []
    assert response["isSuccess"] is (name not in FAILS_ON_PURPOSE), response.get("errorDetails")
    for rec in response.get("records") or []:
        assert isinstance(json.loads(rec), dict)


def test_unhandled_failures_become_responses_not_exceptions():
    for event in (
        {},
        {"type": "Nope"},
        {"type": "QueryDataRequest"},
        {"type": "ListEntitiesRequest", "connectorContext": 5},
    ):
        response = lambda_handler(event, None)
        assert response["isSuccess"] is False
        assert response["errorDetails"]["errorCode"] == "InvalidArgument"
    bad_filter = {"type": "QueryDataRequest", "entityIdentifier": "accounts", "filterExpression": "updated_at > ",
                  "connectorContext": {"apiVersion": "v1", "connectorRuntimeSettings": {}}}  # fmt: skip
    expected = json.loads((FIXTURES / "responses" / "QueryDataResponse.invalidFilter.json").read_text())
    response = lambda_handler(bad_filter, None)
    assert shape_errors(expected, response) == []
    assert response["errorDetails"]["errorCode"] == "InvalidArgument"
