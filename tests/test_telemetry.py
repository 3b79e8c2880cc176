"""Both connectors report every invocation the same way: one EMF record each, the same usage metric
names, and ApiRequests equal to the requests the reference API received during that invocation
(counted by a proxy in front of it, independent of what the client counts)."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import pytest

from appflow_connector import session
from appflow_connector.handler import lambda_handler as appflow_handler
from athena_connector.handler import reset_container
from saasbridge.client.stats import ClientStats, UsageMeter
from tests import athena_driver
from tests.helpers import put_secret
from tests.sql_support import DEMO_KEY, CountingProxy

# the names dashboards and alarms use (README, Observability), written here, not read from the code
USAGE_METRICS = {"ApiRequests", "ApiRetries", "ApiThrottled", "ApiBytes"}
ATHENA_COUNTERS = {"RowsRead", "RowsReturned", "BytesReturned", "SpilledBlocks", "ValuesNulled"}


@pytest.fixture
def proxy(reference_api):
    counting = CountingProxy(reference_api.url)
    yield counting
    counting.stop()


def emf_records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"_aws"' in line]


def metric_names(record: dict) -> set[str]:
    return {m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def metered_calls(call, events, proxy, capsys) -> list[tuple[dict, int]]:
    """Each event's one EMF record and the requests the API received while it ran."""
    seen = []
    for event in events:
        capsys.readouterr()
        before = len(proxy.requests)
        call(event)
        (record,) = emf_records(capsys.readouterr().out)
        seen.append((record, len(proxy.requests) - before))
    return seen


def test_athena_reports_each_invocation_with_the_api_s_request_count(proxy, aws_env, monkeypatch, capsys):
    monkeypatch.setenv("SAASBRIDGE_API_URL", proxy.url)
    monkeypatch.setenv("SAASBRIDGE_API_KEY", DEMO_KEY)
    monkeypatch.delenv("SAASBRIDGE_CATALOG", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)  # a Lambda by its context only
    reset_container()
    seen: list[tuple[dict, int]] = []
    invoke = athena_driver.invoke

    def metered(event: dict, version: int = 6) -> dict:
        response: dict = {}
        seen.extend(metered_calls(lambda e: response.update(invoke(e, version)), [event], proxy, capsys))
        return response

    monkeypatch.setattr(athena_driver, "invoke", metered)
    table = athena_driver.scan("contacts")
    reset_container()
    assert table.num_rows > 0 and sum(n for _, n in seen) >= 2  # the reads did reach the API
    for record, received in seen:
        assert metric_names(record) == USAGE_METRICS | ATHENA_COUNTERS
        assert record["ApiRequests"] == [float(received)], record["RequestType"]
        assert record["service"] == "saasbridge-athena" and record["queryId"]
    assert sum(r["RowsReturned"][0] for r, _ in seen) == table.num_rows


def test_a_handler_called_without_a_lambda_context_leaves_stdout_alone(monkeypatch, capsys):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    response = appflow_handler({"type": "DescribeConnectorConfigurationRequest", "locale": "en-US"}, None)
    assert response["isSuccess"] and capsys.readouterr().out == ""


def test_appflow_reports_each_call_with_the_api_s_request_count(proxy, aws_env, monkeypatch, capsys, fresh_session):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    arn = put_secret("telemetry-appflow", {"apiKey": DEMO_KEY})
    session._clients.clear()  # a fresh container: no client cached by another test
    ctx = {"connectorRuntimeSettings": {"instanceUrl": proxy.url}, "executionId": "exec-telemetry",
           "credentials": {"secretArn": arn, "authenticationType": "ApiKey"}}
    query = {"type": "QueryDataRequest", "entityIdentifier": "accounts", "maxResults": 40, "connectorContext": ctx}
    events = [
        {"type": "DescribeConnectorConfigurationRequest", "locale": "en-US"},
        {"type": "ValidateCredentialsRequest", "connectorProfileName": "x", "credentials": ctx["credentials"],
         "connectorRuntimeSettings": ctx["connectorRuntimeSettings"]},
        query,
        {"type": "RetrieveDataRequest", "entityIdentifier": "accounts", "ids": ["acc_000001", "acc_000002"],
         "connectorContext": ctx},
    ]
    responses: list[dict] = []

    def call(event: dict) -> None:
        responses.append(appflow_handler(event, athena_driver.Context()))  # a Lambda context

    seen = metered_calls(call, events, proxy, capsys)
    token = responses[2].get("nextToken")
    assert token, "the first page should not be the last (maxResults 40)"
    seen += metered_calls(call, [{**query, "nextToken": token}], proxy, capsys)
    assert all(r.get("isSuccess", True) for r in responses), responses
    assert sum(n for _, n in seen) >= 3
    for record, received in seen:
        assert metric_names(record) == USAGE_METRICS
        assert record["ApiRequests"] == [float(received)]
        assert record["service"] == "saasbridge-appflow"
    assert [r.get("executionId") for r, _ in seen] == [None, None, *["exec-telemetry"] * 3]


def test_a_meter_counts_what_its_clients_do_from_any_thread_while_it_is_open():
    fresh, cached = SimpleNamespace(stats=ClientStats()), SimpleNamespace(stats=ClientStats())
    cached.stats.add(requests=5)  # before the invocation: not its usage

    def work(client, n: int) -> None:
        for _ in range(n):
            client.stats.add(requests=1, bytes=10)

    with UsageMeter() as meter:
        assert meter.watch(fresh) is fresh and meter.watch(cached) is cached and meter.watch(cached) is cached
        threads = [threading.Thread(target=work, args=(c, 500)) for c in (fresh, cached, fresh, cached)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    work(cached, 7)  # after the invocation
    assert meter.usage.as_dict() == {"requests": 2000, "retries": 0, "throttled": 0, "bytes": 20_000, "wait_seconds": 0}
    assert (fresh.stats.requests, cached.stats.requests) == (1000, 1012)
