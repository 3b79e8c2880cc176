"""Bad input: both Lambda handlers fed random and mutated events (the recorded fixtures with keys
dropped, values replaced by wrong types, huge strings, deep nesting, invalid base64/Arrow, unknown
@type / type). The answer is always a clean typed error (Athena: an AthenaConnectorError the
Lambda runtime turns into an error document; AppFlow: isSuccess false with an errorCode) or a
valid response; never a crash of another kind, a hang, or a secret in the output."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appflow_connector import session
from appflow_connector.handler import lambda_handler as appflow_handler
from athena_connector.errors import AthenaConnectorError
from athena_connector.handler import lambda_handler as athena_handler
from athena_connector.handler import reset_container
from conformance.cases import APPFLOW_FIXTURES, ATHENA_FIXTURES
from tests import reliability_report

ATHENA_FIXTURES = sorted(p for p in ATHENA_FIXTURES.rglob("*Request*.json"))
APPFLOW_FIXTURES = sorted((APPFLOW_FIXTURES / "requests").glob("*.json"))
SECRETS = ["demo-acme-key", "fuzz-secret-api-key-9f3a"]
EXAMPLES = 60
APPFLOW_CODES = {"InvalidArgument", "InvalidCredentials", "AccessDenied", "RequestTimeout", "RateLimitExceeded",
                 "ServiceUnavailable", "ClientError", "ServerError", "ResourceNotFoundError", "UnknownError",
                 "ConflictError", "ValidationError", "ConnectorAuthenticationException"}


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 20_000


def _load(paths: list[Path]) -> list[dict]:
    events = []
    for path in paths:
        doc = json.loads(path.read_text())
        if isinstance(doc, dict):
            events.append(doc)
    return events


ATHENA_EVENTS = _load(ATHENA_FIXTURES)
APPFLOW_EVENTS = _load(APPFLOW_FIXTURES)

junk = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True),
    st.text(max_size=20), st.just("x" * 1_000_000),  # huge string
    st.just("!!!not base64!!!"), st.just(base64.b64encode(b"\xff\xff\xff\xff\x10\x00\x00\x00garbage").decode()),
    # mutable junk is built fresh per draw: a shared object mutated by a later step would make
    # generation depend on earlier examples (hypothesis' FlakyStrategyDefinition)
    st.builds(lambda: {"@type": "NoSuchThing"}), st.builds(lambda: [[[[[]]]]]), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.builds(lambda: json.loads("[" * 200 + "]" * 200)),  # deep nesting
    st.just("../../etc/passwd"), st.just("http://evil.example/"),
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:5]):
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def mutated(draw, events: list[dict]) -> dict:
    event = copy.deepcopy(draw(st.sampled_from(events)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(event)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = event
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]  # missing field
        else:
            parent[path[-1]] = draw(junk)  # wrong type / garbage
    return event


def _no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture
def configured(reference_api, aws_env, monkeypatch):
    arn = boto3.client("secretsmanager").create_secret(
        Name="fuzz-secret", SecretString=json.dumps({"apiKey": SECRETS[1]}))["ARN"] if not _has_secret() else \
        boto3.client("secretsmanager").describe_secret(SecretId="fuzz-secret")["ARN"]
    monkeypatch.setenv("SAASBRIDGE_API_URL", reference_api.url)
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    monkeypatch.setenv("SAASBRIDGE_SECRET_ARN_FOR_TESTS", arn)
    monkeypatch.delenv("SAASBRIDGE_CATALOG", raising=False)
    monkeypatch.delenv("spill_bucket", raising=False)
    reset_container()
    session.reset()
    yield arn
    reset_container()
    session.reset()


def _has_secret() -> bool:
    client = boto3.client("secretsmanager")
    try:
        client.describe_secret(SecretId="fuzz-secret")
        return True
    except client.exceptions.ResourceNotFoundException:
        return False


def call_athena(event: Any) -> str:
    """'ok' or the error class name; anything but an AthenaConnectorError fails the test."""
    try:
        response = athena_handler(event, Context())
    except AthenaConnectorError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 2000, message[:200]
        _no_secret(message)
        return type(exc).__name__
    text = json.dumps(response, default=str)
    _no_secret(text)
    assert isinstance(response, dict) and "@type" in response
    return "ok"


def call_appflow(event: Any, arn: str) -> str:
    if isinstance(event, dict) and isinstance(event.get("connectorContext"), dict):
        creds = event["connectorContext"].get("credentials")
        if isinstance(creds, dict) and "secretArn" in creds:
            creds["secretArn"] = arn  # a real secret, so mutated events get past authentication
    response = appflow_handler(event, None)
    text = json.dumps(response, default=str)
    _no_secret(text)
    assert isinstance(response, dict) and isinstance(response.get("isSuccess"), bool), text[:300]
    if response["isSuccess"]:
        return "ok"
    details = response["errorDetails"]
    assert details["errorCode"] in APPFLOW_CODES, details
    assert details["errorMessage"] and "\n" not in details["errorMessage"]
    return details["errorCode"]


def fuzz(events: list[dict], call) -> dict[str, int]:
    """`call` on every hypothesis event (mutated fixtures, junk); how often each outcome came out.
    Counted here, where the examples run, so the report states how many events were tried."""
    seen: dict[str, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])
    @given(event=st.one_of(mutated(events), junk, st.dictionaries(st.text(max_size=8), junk, max_size=4)))
    def run(event):
        outcome = call(event)
        seen[outcome] = seen.get(outcome, 0) + 1

    run()
    return seen


def named_cases(connector: str) -> dict[str, Any]:
    """Named bad inputs that must be errors (not successes): unknown types, bad base64/Arrow."""
    if connector == "athena":
        ping = next(e for e in ATHENA_EVENTS if e.get("@type") == "PingRequest")
        read = next(e for e in ATHENA_EVENTS if e.get("@type") == "ReadRecordsRequest")
        return {
            "unknown @type": {**ping, "@type": "DropTableRequest"},
            "invalid base64 schema": {**read, "schema": {"schema": "%%%"}},
            "Arrow garbage": {**read, "schema": {"schema": base64.b64encode(b"\x00" * 64).decode()}},
            "not an object": ["PingRequest"],
        }
    query = next(e for e in APPFLOW_EVENTS if e.get("type") == "QueryDataRequest")
    return {
        "unknown type": {**query, "type": "DropEverythingRequest"},
        "no type": {k: v for k, v in query.items() if k != "type"},
        "maxResults as text": {**query, "maxResults": "lots"},
        "not an object": "QueryDataRequest",
    }


@pytest.mark.timeout(300)
@pytest.mark.parametrize("connector", ["athena", "appflow"])
def test_handler_answers_every_bad_input_with_a_typed_error(configured, connector):
    if connector == "athena":
        call, events = call_athena, ATHENA_EVENTS
    else:
        call, events = (lambda event: call_appflow(event, configured)), APPFLOW_EVENTS
    seen = fuzz(events, call)
    cases = named_cases(connector)
    outcomes = {name: call(copy.deepcopy(event)) for name, event in cases.items()}
    assert "ok" not in outcomes.values(), outcomes
    tried = sum(seen.values())
    assert tried >= EXAMPLES // 2  # hypothesis ran the examples here (a lost count would show as 0)
    reliability_report.record(
        "bad input", f"{connector} handler fuzz", f"{tried} hypothesis events (mutated fixtures, junk) + "
        f"{', '.join(cases)}", "typed error or valid response; no crash, no secret",
        f"{len(outcomes)} named cases → {', '.join(sorted(set(outcomes.values())))}"
        f"; fuzz outcomes {dict(sorted(seen.items()))}")
