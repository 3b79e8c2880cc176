"""A small scripted HTTP server on loopback (stdlib only) standing in for a SaaS API in client tests,
benchmarks and the conformance suite, and a catalog for it.

    with StubServer(handler) as server:   # handler(StubRequest) -> StubReply
        server.url, server.requests

Real sockets, real HTTP/1.1 keep-alive; a reply can also drop the connection without answering.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from saasbridge.catalog.model import (
    Auth,
    Catalog,
    Entity,
    Field,
    FieldType,
    Pagination,
    RateBudget,
    Retry,
    WriteOperation,
)


@dataclass
class StubRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    raw_path: str
    pairs: list[tuple[str, str]] = field(default_factory=list)  # the query in order, repeated keys kept

    def values(self, name: str) -> list[str]:
        """Every value of a query parameter (`?status=a&status=b` → ["a", "b"])."""
        return [v for k, v in self.pairs if k == name]

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


@dataclass
class StubReply:
    status: int = 200
    body: Any = None  # bytes as they are; anything else is sent as JSON
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    delay: float = 0.0


Handler = Callable[[StubRequest], StubReply]


def reply(body: Any = None, status: int = 200, **headers: str) -> StubReply:
    return StubReply(status=status, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()})


class StubServer:
    def __init__(self, handler: Handler):
        self.handler = handler
        self.requests: list[StubRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        stub = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # headers and body leave in one segment (no delayed-ACK stalls)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = StubRequest(
                    method=self.command,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    raw_path=self.path,
                    pairs=parse_qsl(parts.query, keep_blank_values=True),
                )
                with stub._lock:
                    stub.requests.append(request)
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    answer = stub.handler(request)
                    if answer.delay:
                        time.sleep(answer.delay)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1
                if answer.drop:
                    self.close_connection = True
                    return
                payload = answer.body if isinstance(answer.body, bytes) else (
                    b"" if answer.body is None and answer.status == 204 else orjson.dumps(answer.body)
                )
                self.send_response(answer.status)
                headers = {"Content-Type": "application/json", **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="stub-http", daemon=True
        )

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def scripted(replies: Iterable[StubReply], then: Handler | None = None) -> Handler:
    """A handler that answers with `replies` in order, then with `then` (or 500 when absent)."""
    queue = list(replies)
    lock = threading.Lock()

    def handle(request: StubRequest) -> StubReply:
        with lock:
            if queue:
                return queue.pop(0)
        return then(request) if then else reply({"error": "script exhausted"}, status=500)

    return handle


FAST = RateBudget(requests_per_second=100_000, burst=100_000, max_concurrency=16)


def stub_catalog(
    base_url: str,
    *,
    pagination: Pagination | None = None,
    records_path: str = "data",
    auth: Auth | None = None,
    retry: Retry | None = None,
    rate_limit: RateBudget = FAST,
    path: str = "/v1/things",
    get_path: str | None = "/v1/things/{id}",
    ids_param: str | None = None,
    writes: tuple[WriteOperation, ...] = (),
) -> Catalog:
    """A one-entity catalog (`things`: id, n) for a stub server."""
    entity = Entity(
        name="things",
        path=path,
        fields=(
            Field(name="id", api_name="id", type=FieldType("string")),
            Field(name="n", api_name="n", type=FieldType("int64")),
        ),
        get_path=get_path,
        ids_param=ids_param,
        writes=writes,
    )
    return Catalog(
        name="stub",
        base_url=base_url,
        entities=(entity,),
        auth=auth or Auth(type="none"),
        pagination=pagination or Pagination(),
        records_path=records_path,
        retry=retry or Retry(max_attempts=4, base_delay=0.01, max_delay=0.05),
        rate_limit=rate_limit,
    )


def dataset(n: int) -> list[dict]:
    return [{"id": f"r{i:05d}", "n": i} for i in range(n)]
