"""The drivers (`saasbridge.drivers`): the invoker's retry policy and errors against a scripted
Lambda Invoke endpoint, the AppFlow session's paging, stalled-token check, AppFlow retries and
batching with per-record results against a scripted connector, and the Athena request sequence
against the real handler in process, checked against the reference API's own database."""

from __future__ import annotations

import decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saasbridge.drivers import appflow
from saasbridge.drivers.lambda_invoker import (
    MAX_ATTEMPTS,
    EndpointInvoker,
    InProcessInvoker,
    InvokeError,
    InvokeResult,
)
from saasbridge.local.httpstub import StubServer, reply

# ---------------------------------------------------------------- the invoker


def _throttled():
    return reply({"Type": "User", "message": "Rate exceeded"}, 429, x_amzn_ErrorType="TooManyRequestsException")


def test_the_invoker_retries_throttling_then_answers():
    answers = [_throttled(), _throttled(), reply({"@type": "PingResponse"})]
    with StubServer(lambda request: answers.pop(0)) as server:
        result = EndpointInvoker(server.url, "athena").invoke({"@type": "PingRequest"})
        assert result.payload == {"@type": "PingResponse"}
        assert len(server.requests) == 3
        assert server.requests[-1].json() == {"@type": "PingRequest"}


def test_the_invoker_gives_up_after_its_attempts_with_one_error():
    with StubServer(lambda request: _throttled()) as server:
        with pytest.raises(InvokeError, match="TooManyRequestsException") as caught:
            EndpointInvoker(server.url, "athena").invoke({})
        assert len(server.requests) == MAX_ATTEMPTS
    assert caught.value.function == "athena"


def test_a_function_error_is_not_retried():
    crash = reply({"errorType": "KeyError", "errorMessage": "'x'"}, 200, X_Amz_Function_Error="Unhandled")
    with StubServer(lambda request: crash) as server:
        with pytest.raises(InvokeError, match="failed with KeyError") as caught:
            EndpointInvoker(server.url, "appflow").invoke({})
        assert len(server.requests) == 1
    assert caught.value.error_type == "KeyError"


def test_in_process_errors_are_the_same_family():
    def crash(event, context):
        raise ValueError("boom")

    with pytest.raises(InvokeError, match="failed with ValueError: boom"):
        InProcessInvoker("crash", handlers={"crash": crash}).invoke({})
    with pytest.raises(InvokeError, match="InvalidRequestContent"):
        InProcessInvoker("athena").invoke({"x": object()})
    with pytest.raises(InvokeError, match="not a JSON object"):
        InProcessInvoker("list", handlers={"list": lambda event, context: [1]}).invoke({})


def test_in_process_payload_crosses_as_json_with_decimals_as_numbers():
    seen = []
    invoker = InProcessInvoker("echo", handlers={"echo": lambda event, context: seen.append(event) or event})
    result = invoker.invoke({"n": decimal.Decimal("12.50")})
    assert seen == [{"n": 12.5}] and result.payload == {"n": 12.5} and invoker.invocations == 1


# ---------------------------------------------------------------- the AppFlow session


class _Scripted:
    """A connector answering from a script; keeps the events it got."""

    def __init__(self, answers):
        self.answers, self.events, self.invocations = list(answers), [], 0

    def invoke(self, event):
        self.invocations += 1
        self.events.append(event)
        answer = self.answers.pop(0)
        return InvokeResult(answer(event) if callable(answer) else answer)


def _session(invoker, pauses=None):
    return appflow.AppFlowSession(
        invoker, secret_arn="arn", authentication_type="ApiKey", sleep=(pauses if pauses is not None else []).append
    )


def _page(records, token):
    return {"isSuccess": True, "records": records, "nextToken": token}


def test_records_follow_next_tokens_and_parse_exactly():
    invoker = _Scripted([_page(['{"id": 1, "x": 1.10}'], "t1"), _page([], "t2"), _page(['{"id": 2}'], None)])
    got = list(_session(invoker).records("accounts", "x > 1", ["id", "x"], max_results=7))
    assert got == [{"id": 1, "x": decimal.Decimal("1.10")}, {"id": 2}]
    assert [e["nextToken"] for e in invoker.events] == [None, "t1", "t2"]
    assert {(e["filterExpression"], e["maxResults"]) for e in invoker.events} == {("x > 1", 7)}
    assert invoker.events[0]["selectedFieldNames"] == ["id", "x"]


def test_a_stalled_token_stops_the_run():
    invoker = _Scripted([_page(['{"id": 1}'], "t")] + [_page([], "t")] * (appflow.MAX_STALLED_CALLS + 5))
    records = _session(invoker).records("accounts")
    with pytest.raises(appflow.FlowRunError, match="makes no progress"):
        list(records)
    assert invoker.invocations == 1 + appflow.MAX_STALLED_CALLS


def test_an_empty_page_with_a_new_token_is_progress():
    pages = [_page([], f"t{i}") for i in range(appflow.MAX_STALLED_CALLS + 3)] + [_page(['{"id": 9}'], None)]
    assert list(_session(_Scripted(pages)).records("accounts")) == [{"id": 9}]


def test_the_session_retries_what_appflow_retries_and_stops_on_the_rest():
    throttled = {"isSuccess": False, "errorDetails": {"errorCode": "RateLimitExceeded", "errorMessage": "slow down",
                                                      "retryAfterSeconds": 2}}  # fmt: skip
    ok = _page(["{}"], None)
    pauses: list[float] = []
    invoker = _Scripted([throttled, throttled, ok])
    s = _session(invoker, pauses)
    assert s.query_data("accounts", fields=None, expression=None, max_results=10, token="t1") == ok
    assert pauses == [2, 2] and s.retries == 2
    assert [e["nextToken"] for e in invoker.events] == ["t1"] * 3  # the same page asked again
    bad = {"isSuccess": False, "errorDetails": {"errorCode": "InvalidArgument", "errorMessage": "bad filter"}}
    with pytest.raises(appflow.FlowRunError, match="QueryData failed: InvalidArgument: bad filter"):
        list(_session(_Scripted([bad])).records("accounts", "x"))


def test_throttling_is_retried_a_bounded_number_of_times():
    throttled = {"isSuccess": False, "errorDetails": {"errorCode": "RateLimitExceeded", "errorMessage": "slow down",
                                                      "retryAfterSeconds": None}}  # fmt: skip
    pauses: list[float] = []
    invoker = _Scripted([throttled] * (appflow.MAX_ATTEMPTS + 3))
    with pytest.raises(appflow.FlowRunError, match=f"after {appflow.MAX_ATTEMPTS} attempts: RateLimitExceeded"):
        list(_session(invoker, pauses).records("accounts"))
    assert invoker.invocations == appflow.MAX_ATTEMPTS and len(pauses) == appflow.MAX_ATTEMPTS - 1
    assert pauses == sorted(pauses) and pauses[0] > 0 and pauses[-1] <= appflow.MAX_PAUSE_SECONDS


@pytest.mark.parametrize("code", ["ServiceUnavailable", "ServerError", "RequestTimeout", "UnknownError"])
def test_failures_the_connector_already_retried_end_the_run_at_once(code):
    """The connector retried the API itself before answering; sending the call again would repeat all
    of its attempts (8 × 6 requests when the API is down), so one answer ends the run."""
    down = {"isSuccess": False, "errorDetails": {"errorCode": code, "errorMessage": "the API is failing",
                                                 "retryAfterSeconds": 1}}  # fmt: skip
    pauses: list[float] = []
    invoker = _Scripted([down, _page(["{}"], None)])
    s = _session(invoker, pauses)
    with pytest.raises(appflow.FlowRunError, match=f"^QueryData failed: {code}: the API is failing$"):
        list(s.records("accounts"))
    assert invoker.invocations == 1 and pauses == [] and s.retries == 0


def _write_answer(fail_ids, drop_last=False):
    """Per-record results: records whose id is in `fail_ids` fail; optionally the last result is missing."""

    def answer(event):
        import json

        ids = [json.loads(t)["id"] for t in event["records"]]
        results = [
            {"isSuccess": i not in fail_ids, "recordId": f"r{i}", "errorMessage": None if i not in fail_ids else f"bad {i}"}
            for i in ids
        ]
        return {"isSuccess": not fail_ids, "writeRecordResults": results[:-1] if drop_last else results}

    return answer


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40),
    batch=st.integers(1, 12),
    failing=st.sets(st.integers(0, 39)),
)
def test_write_batches_and_keeps_one_result_per_record(n, batch, failing):
    calls = -(-n // batch)
    invoker = _Scripted([_write_answer(failing)] * calls)
    sent: list[int] = []
    outcomes = _session(invoker).write(
        "deals", "UPSERT", [{"id": i} for i in range(n)], id_field_names=["id"], batch_size=batch,
        on_batch=sent.append,
    )  # fmt: skip
    assert invoker.invocations == calls
    assert [len(e["records"]) for e in invoker.events] == [min(batch, n - k * batch) for k in range(calls)]
    assert {e["idFieldNames"][0] for e in invoker.events} <= {"id"}
    assert [o.index for o in outcomes] == list(range(n))
    assert [o.record_id for o in outcomes] == [f"r{i}" for i in range(n)]
    assert [o.error for o in outcomes] == [f"bad {i}" if i in failing else None for i in range(n)]
    assert sent == [min(n, (k + 1) * batch) for k in range(calls)]


def test_a_record_without_a_result_is_a_failure_not_a_gap():
    outcomes = _session(_Scripted([_write_answer(set(), drop_last=True)])).write(
        "deals", "INSERT", [{"id": 1}, {"id": 2}]
    )
    assert [o.error for o in outcomes] == [None, "the connector returned no result for this record"]


def test_a_failed_write_call_stops_or_fails_its_batch():
    bad = {"isSuccess": False, "errorDetails": {"errorCode": "InvalidArgument", "errorMessage": "no"}}
    records = [{"id": i} for i in range(5)]
    with pytest.raises(appflow.FlowRunError, match=r"InvalidArgument: no \(2 of 5 rows were written before\)"):
        _session(_Scripted([_write_answer(set()), bad])).write("deals", "UPSERT", records, batch_size=2)
    outcomes = _session(_Scripted([_write_answer(set()), bad, _write_answer(set())])).write(
        "deals", "UPSERT", records, batch_size=2, stop_on_call_failure=False
    )
    assert [o.error is None for o in outcomes] == [True, True, False, False, True]
    assert "InvalidArgument: no" in outcomes[2].error


def test_a_record_that_is_not_json_is_named():
    with pytest.raises(appflow.FlowRunError, match="record 2 cannot be sent as JSON"):
        _session(_Scripted([])).write("deals", "INSERT", [{"id": 1}, {"id": object()}])


# ---------------------------------------------------------------- the Athena sequence


class _Recording(InProcessInvoker):
    def __init__(self):
        super().__init__("athena")
        self.types: list[str] = []

    def invoke(self, payload):
        self.types.append(payload["@type"])
        return super().invoke(payload)


class _Stats:
    def __init__(self):
        self.calls, self.spilled = 0, 0

    def record_call(self, result):
        self.calls += 1

    def record_spilled(self, blocks):
        self.spilled += blocks


@pytest.mark.parametrize("inline_limit", [3_465_000, 2_000])  # the second forces spilled blocks
def test_the_athena_sequence_reads_every_row_once(reference_api, aws_env, monkeypatch, inline_limit):
    from athena_connector import protocol
    from athena_connector.handler import reset_container
    from demo_saas.store import dump_records
    from saasbridge.drivers.athena import AthenaDriver, TableScan
    from tests.sql_support import connector_env, create_bucket

    for key, value in connector_env(reference_api.url, aws_env.url).items():
        monkeypatch.setenv(key, value)
    create_bucket(aws_env.url)
    reset_container()
    try:
        invoker, stats = _Recording(), _Stats()
        driver = AthenaDriver(invoker, max_inline_block_size=inline_limit)
        s = driver.session(stats)
        schema, partition_columns = driver.get_table(s, "crm", "accounts", stats)
        scan = TableScan("crm", "accounts", schema, partition_columns,
                         protocol.build_constraints({}, version=s.serde_version))  # fmt: skip
        _, splits = driver.layout_and_splits(s, scan, stats)
        ids = [i for split in splits for b in driver.read_split(s, scan, schema, split, stats)
               for i in b.column("id").to_pylist()]  # fmt: skip
        assert driver.session(stats).serde_version == s.serde_version  # pinged once per driver
    finally:
        reset_container()
    truth = [r["id"] for r in dump_records(reference_api.db_path, "acme", "accounts")]
    assert sorted(ids) == sorted(truth) and len(ids) == len(set(ids))
    splits_calls = invoker.types.count("GetSplitsRequest")
    assert invoker.types == ["PingRequest", "GetTableRequest", "GetTableLayoutRequest",
                             *["GetSplitsRequest"] * splits_calls, *["ReadRecordsRequest"] * len(splits)]  # fmt: skip
    assert stats.calls == len(invoker.types) == invoker.invocations
    assert (stats.spilled > 0) == (inline_limit < 1_000_000)
