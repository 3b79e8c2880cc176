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
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

import orjson

from saasbridge.drivers.in_process import (
    FunctionNotFound,
    InvalidPayload,
    function_short_name,
    handler_kind,
    invoke_handler,
)

LOG_TAIL_BYTES = 4096  # what Lambda returns in X-Amz-Log-Result


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
