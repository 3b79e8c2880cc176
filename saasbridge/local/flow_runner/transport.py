"""How the runner reaches the connector: every event and response crosses as JSON bytes, as it
does between AppFlow and Lambda, whichever way the function is reached."""

from __future__ import annotations

import decimal
import time
from typing import Any

import orjson

from saasbridge.errors import SaasBridgeError, aws_error_line


class ConnectorInvokeError(SaasBridgeError):
    """The connector function could not be invoked or crashed (no protocol response)."""


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):  # the Lambda runtime's encoder writes Decimals as numbers
        return orjson.Fragment(format(value, "f").encode())
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(payload: dict) -> bytes:
    """A payload as the Lambda runtime would serialize it; a value it cannot serialize is an error."""
    try:
        return orjson.dumps(payload, default=_default)
    except TypeError as exc:
        raise ConnectorInvokeError(f"the payload cannot be serialized as JSON ({exc})") from None


def decode(body: bytes, what: str) -> dict:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ConnectorInvokeError(f"{what} is not JSON ({body[:80]!r}…)") from None
    if not isinstance(value, dict):
        raise ConnectorInvokeError(f"{what} is not a JSON object")
    return value


class Transport:
    """Sends one serialized event and returns the parsed response (`invoke`); counts invocations."""

    name = "transport"

    def __init__(self) -> None:
        self.invocations = 0

    def invoke(self, event: dict) -> dict:
        self.invocations += 1
        return decode(self._invoke_bytes(encode(event)), f"the {event.get('type')} response")

    def _invoke_bytes(self, payload: bytes) -> bytes:
        raise NotImplementedError

    def api_request_counts(self) -> dict[int, int] | None:
        """SaaS API requests made so far per live connector client, when this transport can see them."""
        return None


class _Context:
    """The Lambda context a handler sees: a fresh deadline per invocation, like a real function."""

    def __init__(self, timeout_seconds: float):
        self._deadline = time.monotonic() + timeout_seconds
        self.function_name = "saasbridge-appflow-local"
        self.aws_request_id = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InProcessTransport(Transport):
    """Calls `appflow_connector.handler.lambda_handler` in this process (JSON bytes both ways)."""

    name = "in-process"

    def __init__(self, *, timeout_seconds: float | None = None):
        super().__init__()
        self.timeout_seconds = timeout_seconds

    def _invoke_bytes(self, payload: bytes) -> bytes:
        from appflow_connector.handler import lambda_handler

        context = _Context(self.timeout_seconds) if self.timeout_seconds else None
        try:
            response = lambda_handler(orjson.loads(payload), context)
        except Exception as exc:  # what Lambda would report as an Unhandled function error
            raise ConnectorInvokeError(f"the connector raised {type(exc).__name__}: {exc}") from None
        return encode(response)

    def api_request_counts(self) -> dict[int, int] | None:
        from appflow_connector import session

        return {id(client): client.stats.requests for client in list(session._clients.values())}


class LambdaTransport(Transport):
    """A Lambda function reached with boto3 `lambda.invoke` (deployed, or any Invoke-compatible endpoint)."""

    name = "lambda"

    def __init__(
        self,
        function_name: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        **client_args: Any,
    ):
        super().__init__()
        import boto3
        from botocore.config import Config

        self.function_name = function_name
        config = Config(read_timeout=900, retries={"max_attempts": 3, "mode": "standard"})
        self._client = boto3.client(
            "lambda", region_name=region, endpoint_url=endpoint_url, config=config, **client_args
        )

    def _invoke_bytes(self, payload: bytes) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.invoke(
                FunctionName=self.function_name, InvocationType="RequestResponse", Payload=payload
            )
        except ClientError as exc:
            raise ConnectorInvokeError(f"cannot invoke {self.function_name!r}: {aws_error_line(exc)}") from None
        except BotoCoreError as exc:
            raise ConnectorInvokeError(f"cannot invoke {self.function_name!r}: {exc}") from None
        body = answer["Payload"].read()
        if answer.get("FunctionError"):
            detail = decode(body, "the function error").get("errorMessage", "")
            raise ConnectorInvokeError(
                f"function {self.function_name!r} failed ({answer['FunctionError']}): {str(detail)[:200]}"
            )
        return body


class EndpointTransport(LambdaTransport):
    """The local invoke endpoint (`saasbridge lambda serve`), reached exactly like a deployed Lambda."""

    name = "endpoint"

    def __init__(self, endpoint_url: str, function_name: str = "appflow"):
        import boto3

        # The local endpoint does not check signatures; sign with placeholders when none are configured.
        extra = {} if boto3.Session().get_credentials() else {
            "aws_access_key_id": "local", "aws_secret_access_key": "local"
        }  # fmt: skip
        super().__init__(function_name, region="us-east-1", endpoint_url=endpoint_url, **extra)
