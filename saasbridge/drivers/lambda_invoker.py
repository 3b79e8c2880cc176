"""Invoking a connector function as AWS services do, through one of three backends behind one
interface: the handler in this process, the local invoke endpoint (`saasbridge lambda serve`), or a
deployed function. Every backend moves the event and the response as JSON bytes, so the
connector's serde is exercised exactly as in AWS; every failure is an `InvokeError`.

Retry policy (one, for every backend that has a network between it and the function): botocore's
"standard" mode with `MAX_ATTEMPTS` attempts, which retries throttling (TooManyRequestsException),
5xx service errors and connection failures, never a function error. In process there is no
network, hence nothing to retry. Retrying what the *connector* answers (AppFlow's errorCodes) is
the AppFlow session's job, not the invoker's.
"""

from __future__ import annotations

import base64
import decimal
import threading
from dataclasses import dataclass
from typing import Any

import orjson

from saasbridge.errors import ConfigError, SaasBridgeError, aws_error_code, aws_error_message

MAX_ATTEMPTS = 3  # in all, the first call included
READ_TIMEOUT_SECONDS = 900  # a Lambda function's longest run
FUNCTION_TIMEOUT_SECONDS = 900.0


class InvokeError(SaasBridgeError):
    """The function could not be invoked, crashed (a Lambda function error) or answered no JSON object."""

    def __init__(self, function: str, error_type: str, message: str):
        self.function = function
        self.error_type = error_type
        super().__init__(f"connector {function!r} failed with {error_type}: {message}")


@dataclass
class InvokeResult:
    payload: dict
    log_tail: str | None = None  # the function's log output, when the backend returns it


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):  # the Lambda runtime's encoder writes Decimals as numbers
        return orjson.Fragment(format(value, "f").encode())
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(payload: Any) -> bytes:
    """A payload as the Lambda runtime would serialize it; a value it cannot serialize is a TypeError."""
    return orjson.dumps(payload, default=_default)


def _decode(function: str, body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvokeError(function, "InvalidResponse", f"response is not JSON ({exc})") from None


def _result(function: str, body: bytes, function_error: bool, log_tail: str | None) -> InvokeResult:
    decoded = _decode(function, body)
    if function_error:
        doc = decoded if isinstance(decoded, dict) else {}
        raise InvokeError(
            function, str(doc.get("errorType", "Unhandled")), str(doc.get("errorMessage", decoded))[:500]
        )
    if not isinstance(decoded, dict):
        raise InvokeError(function, "InvalidResponse", "the response is not a JSON object")
    return InvokeResult(decoded, log_tail)


class Invoker:
    """Invokes one function (`function`); counts invocations (thread-safe)."""

    name = "invoker"

    def __init__(self, function: str):
        self.function = function
        self.invocations = 0
        self._count_lock = threading.Lock()

    def invoke(self, payload: dict) -> InvokeResult:
        try:
            body = encode(payload)
        except TypeError as exc:
            raise InvokeError(self.function, "InvalidRequestContent", f"the payload is not JSON ({exc})") from None
        with self._count_lock:
            self.invocations += 1
        return self._invoke(body)

    def _invoke(self, body: bytes) -> InvokeResult:
        raise NotImplementedError


class InProcessInvoker(Invoker):
    """The handler the function name maps to (`athena`/`appflow`), run in this process with a fresh
    Lambda context of `timeout_seconds` per invocation; the log output is the invocation's log tail."""

    name = "in-process"

    def __init__(
        self,
        function: str = "athena",
        *,
        timeout_seconds: float = FUNCTION_TIMEOUT_SECONDS,
        handlers: dict[str, Any] | None = None,
    ):
        super().__init__(function)
        self.timeout_seconds = timeout_seconds
        self._handlers = handlers or {}

    def _invoke(self, body: bytes) -> InvokeResult:
        from saasbridge.drivers.in_process import FunctionNotFound, InvalidPayload, invoke_handler

        try:
            failed, out, log = invoke_handler(
                self.function, body, handlers=self._handlers, timeout_seconds=self.timeout_seconds
            )
        except FunctionNotFound:
            raise InvokeError(self.function, "ResourceNotFoundException", "no such connector") from None
        except InvalidPayload as exc:
            raise InvokeError(self.function, "InvalidRequestContentException", str(exc)) from None
        return _result(self.function, out, failed, log)


class Boto3Invoker(Invoker):
    """The Lambda Invoke API through boto3 (asks for the log tail, to read the connector's metrics)."""

    name = "lambda"

    def __init__(self, function: str, *, region: str | None = None, endpoint_url: str | None = None):
        super().__init__(function)
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - boto3 is a runtime dependency
            raise ConfigError("boto3 is required to invoke a Lambda function") from exc
        config = Config(
            read_timeout=READ_TIMEOUT_SECONDS, retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"}
        )
        kwargs: dict[str, Any] = {"config": config}
        if region:
            kwargs["region_name"] = region
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
            kwargs.setdefault("region_name", "us-east-1")
            if boto3.session.Session().get_credentials() is None:
                # The local endpoint does not check signatures, but botocore must sign something.
                kwargs.update(aws_access_key_id="local", aws_secret_access_key="local")
        self._client = boto3.client("lambda", **kwargs)

    def _invoke(self, body: bytes) -> InvokeResult:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.invoke(FunctionName=self.function, Payload=body, LogType="Tail")
        except (ClientError, BotoCoreError) as exc:  # also: unreachable endpoint, no credentials, timeouts
            raise InvokeError(self.function, aws_error_code(exc), aws_error_message(exc)) from None
        log = response.get("LogResult")
        log_tail = base64.b64decode(log).decode("utf-8", "replace") if log else None
        return _result(self.function, response["Payload"].read(), bool(response.get("FunctionError")), log_tail)


class EndpointInvoker(Boto3Invoker):
    """The local invoke endpoint (`saasbridge lambda serve`), reached exactly like a deployed Lambda."""

    name = "endpoint"

    def __init__(self, endpoint_url: str, function: str = "athena"):
        super().__init__(function, endpoint_url=endpoint_url)


def invoker_for(
    default_function: str,
    *,
    function_name: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> Invoker:
    """The backend the options name: the endpoint (`endpoint_url`), a deployed function
    (`function_name`, in `region` or boto3's default one), or in process (neither; `region` unused)."""
    if endpoint_url:
        return EndpointInvoker(endpoint_url, function_name or default_function)
    if function_name:
        if not region:
            import boto3

            if not boto3.Session().region_name:
                raise ConfigError("--function-name needs --region (or AWS_DEFAULT_REGION)")
        return Boto3Invoker(function_name, region=region)
    return InProcessInvoker(default_function)
