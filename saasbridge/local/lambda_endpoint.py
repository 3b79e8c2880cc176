"""A loopback HTTP endpoint compatible with the Lambda Invoke API, serving the connector handlers.

`POST /2015-03-31/functions/{name}/invocations` runs the handler the name maps to (names that
contain `athena` or `appflow`, or explicit aliases) and answers as AWS Lambda does: the payload
with 200; on an exception `X-Amz-Function-Error: Unhandled` and the runtime's error document;
`X-Amz-Log-Result` (base64 log tail) when asked with `X-Amz-Log-Type: Tail`; 404
ResourceNotFoundException for an unknown function, 400 InvalidRequestContentException for a
payload that is not JSON. `boto3.client("lambda", endpoint_url=…)` works against it unchanged.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

import orjson

HANDLERS = {
    "athena": "athena_connector.handler:lambda_handler",
    "appflow": "appflow_connector.handler:lambda_handler",
}
LOG_TAIL_BYTES = 4096  # what Lambda returns in X-Amz-Log-Result
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
    name: str, body: bytes, *, handlers: dict[str, Any] | None = None, aliases: dict[str, str] | None = None
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
    context = LocalLambdaContext(short)
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


# ---------------------------------------------------------------- HTTP server


class _InvokeHandler(BaseHTTPRequestHandler):
    server: LambdaServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            sys.__stderr__.write("lambda: " + (format % args) + "\n")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlparse(self.path).path.split("/")
        # /2015-03-31/functions/{name}/invocations
        if (
            len(parts) != 5
            or parts[1] != "2015-03-31"
            or parts[2] != "functions"
            or parts[4] != "invocations"
        ):
            return self._error(404, "UnknownOperationException", f"unknown path {self.path}")
        name = unquote(parts[3])
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        try:
            if function_short_name(name) not in self.server.handlers:
                handler_kind(name, self.server.aliases)
        except FunctionNotFound:
            return self._error(404, "ResourceNotFoundException", f"Function not found: {name}")
        if invocation_type == "DryRun":
            return self._reply(204, b"", {})
        try:
            failed, out, log = invoke_handler(
                name, body, handlers=self.server.handlers, aliases=self.server.aliases
            )
        except InvalidPayload as exc:
            return self._error(400, "InvalidRequestContentException", str(exc))
        except Exception as exc:  # the handler could not even be loaded: a service-side failure
            return self._error(502, "ServiceException", f"{type(exc).__name__}: {exc}")
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        if failed:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            tail = log.encode("utf-8")[-LOG_TAIL_BYTES:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode("ascii")
        if invocation_type == "Event":
            return self._reply(202, b"", headers)
        self._reply(200, out, headers)

    def _error(self, status: int, error_type: str, message: str) -> None:
        body = orjson.dumps({"Type": "User", "message": message})
        self._reply(status, body, {"x-amzn-ErrorType": error_type})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class LambdaServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handlers: dict[str, Any], aliases: dict[str, str], verbose: bool
    ):
        super().__init__(address, _InvokeHandler)
        self.handlers = handlers
        self.aliases = aliases
        self.verbose = verbose


class LambdaEndpoint:
    """The invoke endpoint on a loopback port (0 = a free one), served from a background thread.

    `handlers` maps extra function names to callables (tests); `aliases` maps function names
    to `athena`/`appflow`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        handlers: dict[str, Any] | None = None,
        aliases: dict[str, str] | None = None,
        verbose: bool = False,
    ):
        self._server = LambdaServer((host, port), handlers or {}, aliases or {}, verbose)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LambdaEndpoint:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lambda-endpoint", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LambdaEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
