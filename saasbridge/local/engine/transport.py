"""How the engine reaches a connector: in-process, the local invoke endpoint, or a deployed
Lambda. Every transport moves the request and the response as JSON bytes, so the connector's
serde is exercised exactly as in AWS."""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from saasbridge.errors import ConfigError, SaasBridgeError


class LambdaInvokeError(SaasBridgeError):
    """The connector raised (a Lambda function error) or could not be invoked."""

    def __init__(self, function: str, error_type: str, message: str):
        self.function = function
        self.error_type = error_type
        super().__init__(f"connector {function!r} failed with {error_type}: {message}")


@dataclass
class InvokeResult:
    payload: dict
    log_tail: str | None = None  # the function's log output, when the transport returns it


class Transport(Protocol):
    def invoke(self, function: str, payload: dict) -> InvokeResult: ...


def _dumps(payload: dict) -> bytes:
    return orjson.dumps(payload)


def _loads(function: str, body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise LambdaInvokeError(function, "InvalidResponse", f"response is not JSON ({exc})") from exc


def _raise_function_error(function: str, body: Any) -> None:
    doc = body if isinstance(body, dict) else {}
    raise LambdaInvokeError(
        function, str(doc.get("errorType", "Unhandled")), str(doc.get("errorMessage", body))[:500]
    )


class InProcessTransport:
    """Calls the handler in this process; request and response still go through JSON bytes,
    and the function's log output is captured per invocation like a Lambda log tail."""

    def __init__(self, handlers: dict[str, Any] | None = None):
        self._handlers = handlers or {}
        self._lock = threading.Lock()

    def invoke(self, function: str, payload: dict) -> InvokeResult:
        from saasbridge.local.lambda_endpoint import invoke_handler

        status, body, log_tail = invoke_handler(function, _dumps(payload), handlers=self._handlers)
        decoded = _loads(function, body)
        if status:
            _raise_function_error(function, decoded)
        return InvokeResult(decoded, log_tail)


class Boto3Transport:
    """The Lambda Invoke API through boto3: a deployed function (`region`) or the local
    endpoint (`endpoint_url`). Asks for the log tail to read the connector's metrics."""

    def __init__(
        self, *, region: str | None = None, endpoint_url: str | None = None, function_name: str | None = None
    ):
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - boto3 is a runtime dependency
            raise ConfigError("boto3 is required for --function-name/--endpoint-url") from exc
        kwargs: dict[str, Any] = {"config": Config(read_timeout=900, retries={"max_attempts": 2})}
        if region:
            kwargs["region_name"] = region
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
            kwargs.setdefault("region_name", "us-east-1")
            if boto3.session.Session().get_credentials() is None:
                # The local endpoint does not check signatures, but botocore must sign something.
                kwargs.update(aws_access_key_id="local", aws_secret_access_key="local")
        self.function_name = function_name
        self._client = boto3.client("lambda", **kwargs)

    def invoke(self, function: str, payload: dict) -> InvokeResult:
        name = self.function_name or function
        try:
            response = self._client.invoke(FunctionName=name, Payload=_dumps(payload), LogType="Tail")
        except SaasBridgeError:
            raise
        except Exception as exc:  # botocore errors: unreachable endpoint, missing function, no rights
            raise LambdaInvokeError(name, type(exc).__name__, str(exc).splitlines()[0]) from exc
        body = response["Payload"].read()
        log = response.get("LogResult")
        log_tail = base64.b64decode(log).decode("utf-8", "replace") if log else None
        decoded = _loads(name, body)
        if response.get("FunctionError"):
            _raise_function_error(name, decoded)
        return InvokeResult(decoded, log_tail)
