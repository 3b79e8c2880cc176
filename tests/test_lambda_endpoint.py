"""The local Lambda invoke endpoint, driven with boto3 exactly as AWS Lambda is: payloads,
function errors (X-Amz-Function-Error + the runtime's error document), log tails, unknown
functions and bad payloads; then the real Athena connector through it; then CLI error lines."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from saasbridge.local.lambda_endpoint import LambdaEndpoint


def _echo(event, context):
    print("echo handler saw", sorted(event))
    return {"event": event, "function": context.function_name, "time_left": context.get_remaining_time_in_millis() > 0}


def _boom(event, context):
    raise ValueError(f"cannot handle {event.get('kind')!r}")


@pytest.fixture(scope="module")
def endpoint():
    with LambdaEndpoint(handlers={"echo": _echo, "boom": _boom}) as ep:
        yield ep


@pytest.fixture(scope="module")
def lam(endpoint):
    return boto3.client(
        "lambda",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


def test_payload_round_trips(lam) -> None:
    event = {"a": [1, 2, {"b": None}], "text": "ü"}
    resp = lam.invoke(FunctionName="echo", Payload=json.dumps(event).encode())
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    body = json.loads(resp["Payload"].read())
    assert body == {"event": event, "function": "echo", "time_left": True}


def test_function_error_is_reported_like_lambda(lam) -> None:
    resp = lam.invoke(FunctionName="boom", Payload=b'{"kind": "x"}')
    assert resp["StatusCode"] == 200
    assert resp["FunctionError"] == "Unhandled"
    doc = json.loads(resp["Payload"].read())
    assert doc["errorType"] == "ValueError"
    assert doc["errorMessage"] == "cannot handle 'x'"
    assert isinstance(doc["stackTrace"], list) and all(isinstance(line, str) for line in doc["stackTrace"])


def test_log_tail_holds_the_function_output(lam) -> None:
    resp = lam.invoke(FunctionName="echo", Payload=b'{"zz": 1}', LogType="Tail")
    log = base64.b64decode(resp["LogResult"]).decode()
    assert "echo handler saw ['zz']" in log and log.startswith("START RequestId:")


def test_unknown_function_and_bad_payload(lam) -> None:
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName="no-such-function", Payload=b"{}")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName="echo", Payload=b"{not json")
    assert err.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_arn_names_resolve(lam) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:echo"
    assert json.loads(lam.invoke(FunctionName=arn, Payload=b"{}")["Payload"].read())["function"] == "echo"


def test_athena_connector_answers_ping_and_rejects_garbage(lam) -> None:
    ping = {
        "@type": "PingRequest",
        "identity": {"id": "UNKNOWN", "principal": "UNKNOWN", "account": "1", "arn": "a", "tags": {}, "groups": []},
        "catalogName": "saas",
        "queryId": "q-1",
    }
    resp = lam.invoke(FunctionName="saasbridge-athena", Payload=json.dumps(ping).encode())
    assert "FunctionError" not in resp
    body = json.loads(resp["Payload"].read())
    assert body["@type"] == "PingResponse" and body["queryId"] == "q-1" and body["serDeVersion"] >= 2
    resp = lam.invoke(FunctionName="athena", Payload=b'{"@type": "NoSuchRequest"}')
    assert resp.get("FunctionError") == "Unhandled"
    doc = json.loads(resp["Payload"].read())
    assert doc["errorMessage"] and "\n" not in doc["errorMessage"]


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "saasbridge", *args], capture_output=True, text=True, input=stdin, timeout=60
    )


@pytest.mark.parametrize(
    "args",
    [
        ("sql", "SELEC id FROM crm.accounts"),
        ("sql", "SELECT FROM WHERE ("),
        ("sql", "DROP TABLE crm.accounts"),
        ("sql", "SELECT 1", "--parallelism", "0"),
        ("sql", "SELECT 1", "--format", "parquet"),
        ("invoke", "athena", "/nonexistent/event.json"),
        ("invoke", "athena", "-"),
    ],
)
def test_cli_errors_are_one_line(args: tuple[str, ...]) -> None:
    proc = _cli(*args, stdin="{broken")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("saasbridge: error:"), proc.stderr
