"""The sealed scoring API on loopback: what API Gateway does in front of the scoring Lambda
(template.yaml, ScoringApi), for local runs and tests. `POST /endpoints/{name}/invocations`
becomes an API Gateway proxy event (body base64, as with BinaryMediaTypes */*) for
`saasbridge.sagemaker.scoring_handler.lambda_handler`, whose proxy response is sent back. With an
`api_key`, a request without the matching `x-api-key` gets 403 as API Gateway answers it; with
`iam_access_keys`, a request must carry a SigV4 `Authorization` for service execute-api by one of
those access keys (the signature itself is not verified locally). The handler reaches SageMaker
through boto3 (AWS_ENDPOINT_URL → the SageMaker stand-in)."""

from __future__ import annotations

import base64
import hmac
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations/?$")
_SIGV4 = re.compile(r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/\d{8}/[^/]+/execute-api/aws4_request, ")


class ScoringApiServer:
    """`with ScoringApiServer(api_key=…) as api: api.url` — stopped when the block ends."""

    def __init__(
        self, *, api_key: str | None = None, iam_access_keys: set[str] | None = None, allowed_endpoints: str = "*"
    ):
        self.api_key = api_key
        self.iam_access_keys = iam_access_keys
        self.allowed_endpoints = allowed_endpoints
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ScoringApiServer:
        from saasbridge.local.env import temporary_env

        self._env = temporary_env(ALLOWED_ENDPOINTS=self.allowed_endpoints)  # the function's configuration
        self._env.__enter__()
        self._thread = threading.Thread(target=self._server.serve_forever, name="scoring-api", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(5)
        self._env.__exit__(None, None, None)

    def event(self, name: str, body: bytes, headers: dict[str, str]) -> dict:
        return {
            "resource": "/endpoints/{name}/invocations", "path": f"/endpoints/{name}/invocations",
            "httpMethod": "POST", "headers": headers, "pathParameters": {"name": name},
            "body": base64.b64encode(body).decode(), "isBase64Encoded": True,
        }  # fmt: skip


def _handler_class(api: ScoringApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet: no request log (keys travel in headers)
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            api.requests += 1
            m = _PATH.match(self.path.split("?", 1)[0])
            if not m:
                self._send(404, b'{"message": "Missing Authentication Token"}')
                return
            if api.api_key is not None and not hmac.compare_digest(self.headers.get("x-api-key", ""), api.api_key):
                self._send(403, b'{"message": "Forbidden"}')
                return
            if api.iam_access_keys is not None:
                signed = _SIGV4.match(self.headers.get("Authorization", ""))
                if not signed or signed["key"] not in api.iam_access_keys:
                    self._send(403, b'{"message": "Missing Authentication Token"}')
                    return
            from saasbridge.sagemaker.scoring_handler import lambda_handler

            answer = lambda_handler(api.event(m["name"], body, dict(self.headers.items())))
            payload = answer.get("body") or ""
            data = base64.b64decode(payload) if answer.get("isBase64Encoded") else str(payload).encode()
            self._send(int(answer.get("statusCode", 502)), data,
                       (answer.get("headers") or {}).get("Content-Type", "application/json"))  # fmt: skip

        def do_GET(self) -> None:  # noqa: N802
            self._send(404, json.dumps({"message": "POST /endpoints/{name}/invocations"}).encode())

    return Handler
