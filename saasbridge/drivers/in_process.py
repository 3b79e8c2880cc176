"""A connector handler run in this process as the Lambda Python runtime runs it: the handler the
function name maps to, a Lambda context with a deadline, the event and the response as JSON bytes,
the function's log output captured per invocation, and the runtime's error document on an exception.
The in-process invoker and the local invoke endpoint (`saasbridge lambda serve`) both use it."""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import orjson

HANDLERS = {
    "athena": "athena_connector.handler:lambda_handler",
    "appflow": "appflow_connector.handler:lambda_handler",
}
TIMEOUT_SECONDS = 900


class FunctionNotFound(LookupError):
    pass


class InvalidPayload(ValueError):
    pass


# ---------------------------------------------------------------- handler resolution


def handler_kind(name: str, aliases: dict[str, str] | None = None) -> str:
    """`athena` or `appflow` for a function name or ARN, or FunctionNotFound."""
    short = function_short_name(name)
    if aliases and short in aliases:
        return aliases[short]
    for kind in HANDLERS:
        if kind in short.lower():
            return kind
    raise FunctionNotFound(short)


def function_short_name(name: str) -> str:
    """`arn:aws:lambda:…:function:NAME[:QUALIFIER]` or `NAME[:QUALIFIER]` → NAME."""
    if name.startswith("arn:"):
        parts = name.split(":")
        return parts[6] if len(parts) > 6 else name
    return name.split(":", 1)[0]


def load_handler(kind: str) -> Callable[[dict, Any], Any]:
    _install_log_capture()  # before the import, so loggers created at import time are captured
    module_name, attr = HANDLERS[kind].split(":")
    return getattr(importlib.import_module(module_name), attr)


# ---------------------------------------------------------------- logs


class _ThreadLogTee(io.TextIOBase):
    """Stands in for sys.stdout/stderr: writes from a thread that is running an invocation go
    to that invocation's buffer (its log); everything else passes through."""

    def __init__(self, passthrough: Any, buffers: threading.local):
        self._passthrough = passthrough
        self._buffers = buffers

    def write(self, text: str) -> int:
        buf = getattr(self._buffers, "log", None)
        if buf is not None:
            buf.write(text)
            return len(text)
        try:
            return self._passthrough.write(text)
        except ValueError:  # the stream we wrapped was closed (e.g. a test's capture)
            return len(text)

    def flush(self) -> None:
        with contextlib.suppress(ValueError):
            self._passthrough.flush()

    def writable(self) -> bool:
        return True


_LOCAL = threading.local()
_INSTALL_LOCK = threading.Lock()


def _install_log_capture() -> None:
    with _INSTALL_LOCK:
        if not isinstance(sys.stdout, _ThreadLogTee):
            sys.stdout = _ThreadLogTee(sys.stdout, _LOCAL)
        if not isinstance(sys.stderr, _ThreadLogTee):
            sys.stderr = _ThreadLogTee(sys.stderr, _LOCAL)


class LocalLambdaContext:
    """The parts of the Lambda context object handlers use."""

    def __init__(self, function_name: str, timeout: float = TIMEOUT_SECONDS):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_document(exc: BaseException) -> dict:
    """The Python Lambda runtime's error document for an exception."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": "",
        "stackTrace": [line.rstrip("\n") for line in traceback.format_tb(exc.__traceback__)],
    }


def invoke_handler(
    name: str,
    body: bytes,
    *,
    handlers: dict[str, Any] | None = None,
    aliases: dict[str, str] | None = None,
    timeout_seconds: float = TIMEOUT_SECONDS,
) -> tuple[bool, bytes, str]:
    """Run one invocation: (function_error, response body, log text).

    Raises FunctionNotFound or InvalidPayload for what the Invoke API itself rejects."""
    short = function_short_name(name)
    handler = (handlers or {}).get(short)
    if handler is None:
        handler = load_handler(handler_kind(name, aliases))
    _install_log_capture()
    try:
        event = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidPayload(f"Could not parse request body into json: {exc}") from exc
    context = LocalLambdaContext(short, timeout_seconds)
    log = io.StringIO()
    _LOCAL.log = log
    log.write(f"START RequestId: {context.aws_request_id} Version: $LATEST\n")
    try:
        result = handler(event, context)
        out, failed = orjson.dumps(result), False
    except Exception as exc:  # an unhandled exception is the function's error, as in Lambda
        traceback.print_exc(file=log)
        out, failed = orjson.dumps(error_document(exc)), True
    finally:
        _LOCAL.log = None
    log.write(f"END RequestId: {context.aws_request_id}\n")
    return failed, out, log.getvalue()
