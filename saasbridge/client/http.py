"""The HTTP transport: a urllib3 pool with keep-alive and timeouts; no retries, no redirects."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import urllib3

from saasbridge.errors import ApiError

DEFAULT_PORTS = {"http": 80, "https": 443}


class TransportError(Exception):
    """The request got no HTTP answer. `sent` is False when it surely never reached the server."""

    def __init__(self, message: str, *, sent: bool):
        super().__init__(message)
        self.sent = sent


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    url: str
    elapsed: float = 0.0
    _json: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body parsed as JSON (an empty body is None)."""
        if self._json is None and self.body:
            try:
                self._json = orjson.loads(self.body)
            except orjson.JSONDecodeError:
                raise ApiError(
                    f"{display_url(self.url)} answered HTTP {self.status} with a body that is not JSON",
                    status=self.status,
                ) from None
        return self._json


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


def same_origin(url: str, base: str) -> bool:
    return origin(url) == origin(base)


def origin_key(url: str) -> str:
    """`scheme://host:port`: the key of an API origin (rate budgets are kept per origin)."""
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}"


def display_url(url: str) -> str:
    """A URL safe to show: no query string (it may carry a key), no user info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


class _HideQueryStrings(logging.Filter):
    """urllib3 logs request lines with their query string at DEBUG; a query may carry an API key."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "?" in a for a in record.args):
            record.args = tuple(
                a.split("?", 1)[0] + "?…" if isinstance(a, str) and "?" in a else a for a in record.args
            )
        return True


_pool_log = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _HideQueryStrings) for f in _pool_log.filters):
    _pool_log.addFilter(_HideQueryStrings())


class Transport:
    """One connection pool per process (or per Runtime), shared by all threads."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_connections: int = 10,
        pool_manager: urllib3.PoolManager | None = None,
    ):
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._pool = pool_manager or urllib3.PoolManager(
            num_pools=8, maxsize=max_connections, block=False, retries=False
        )

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send one request and read the whole body. Raises TransportError when no answer came."""
        timeout_spec = (
            self.timeout
            if timeout is None
            else urllib3.Timeout(connect=min(timeout, self.timeout.connect_timeout or timeout), read=timeout)
        )
        started = time.monotonic()
        try:
            answer = self._pool.request(
                method,
                url,
                headers=dict(headers or {}),
                body=body,
                timeout=timeout_spec,
                retries=False,
                redirect=False,
                preload_content=True,
            )
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            raise TransportError(
                f"cannot connect to {display_url(url)} ({_reason(exc)})", sent=False
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise TransportError(f"no answer from {display_url(url)} ({_reason(exc)})", sent=True) from None
        return Response(
            status=answer.status,
            headers=answer.headers,
            body=answer.data or b"",
            url=url,
            elapsed=time.monotonic() - started,
        )

    def close(self) -> None:
        self._pool.clear()


def _reason(exc: BaseException) -> str:
    """The exception's class, plus the root cause's class; never its message (it holds the URL)."""
    names = [type(exc).__name__]
    cause = exc.__context__ or exc.__cause__
    if cause is not None and not isinstance(cause, urllib3.exceptions.HTTPError):
        names.append(type(cause).__name__)
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        names.append(type(reason).__name__)
    return ": ".join(dict.fromkeys(names))
