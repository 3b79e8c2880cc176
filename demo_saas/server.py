"""Run the reference API with uvicorn: `serve(...)`, or `python -m demo_saas.server --port 0 …`.

As a module it prints one line `listening on http://HOST:PORT` once the socket is bound (port 0
picks a free one), and with `--parent-pid` it exits when that process is gone (no orphans).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

READY_PREFIX = "listening on "


class ServeError(Exception):
    """The server cannot start (bad flag, port in use, mismatching database)."""


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP (not 0) so asyncio sets TCP_NODELAY on accepted connections: without it
    # a keep-alive response (headers and body are separate writes) waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def check_settings(*, port: int, scale: float, rate_limit: float, latency_ms: int, fail_rate: float) -> None:
    """Raise ServeError for a flag outside its range."""
    if not 0 <= port <= 65535:
        raise ServeError(f"--port must be 0-65535 (0 = any free port), got {port}")
    if not scale >= 0:
        raise ServeError(f"--scale must be >= 0, got {scale}")
    if not rate_limit >= 0:
        raise ServeError(f"--rate-limit must be >= 0 (0 = unlimited), got {rate_limit}")
    if latency_ms < 0:
        raise ServeError(f"--latency-ms must be >= 0, got {latency_ms}")
    if not 0 <= fail_rate <= 1:
        raise ServeError(f"--fail-rate must be between 0 and 1, got {fail_rate}")


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    scale: float = 1.0,
    seed: int = 42,
    db_path: str | os.PathLike | None = None,
    rate_limit: float = 50,
    latency_ms: int = 0,
    fail_rate: float = 0.0,
    on_ready: Callable[[str], None] | None = None,
    request_log: str | None = None,
) -> None:
    """Bind, seed (or reopen) the database, call `on_ready(url)`, then serve until interrupted."""
    import uvicorn

    from demo_saas.app import Behaviour, create_app
    from demo_saas.store import Store, StoreMismatch

    check_settings(port=port, scale=scale, rate_limit=rate_limit, latency_ms=latency_ms, fail_rate=fail_rate)
    sock = bind_socket(host, port)
    with contextlib.ExitStack() as stack:
        stack.callback(sock.close)
        if db_path is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="saasbridge-api-"))
            db_path = Path(tmp) / "reference-api.sqlite"
        try:
            store = Store.open(db_path, seed=seed, scale=scale)
        except StoreMismatch as exc:
            raise ServeError(str(exc)) from None
        stack.callback(store.close)
        app = create_app(store, Behaviour(
            seed=seed, rate_limit=rate_limit, latency_ms=latency_ms, fail_rate=fail_rate, request_log=request_log
        ))
        bound_host, bound_port = sock.getsockname()[:2]
        url = f"http://{_url_host(bound_host)}:{bound_port}"
        config = uvicorn.Config(app, http="h11", lifespan="off", log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        if on_ready:
            on_ready(url)
        server.run(sockets=[sock])


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so temporary files are removed (uvicorn re-raises the signal
    after its graceful shutdown)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def exit_with_parent(parent_pid: int) -> None:
    """Exit this process as soon as its parent is gone (a killed test run leaves no orphan)."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `serve` (this module's command line and `saasbridge api serve`)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any free port)")
    parser.add_argument("--scale", type=float, default=1.0, help="data size: 1.0 = 2,000 accounts … 100,000 events per tenant")
    parser.add_argument("--seed", type=int, default=42, help="random seed of the demo data and of injected faults")
    parser.add_argument("--db", metavar="PATH", help="keep the database in PATH (reused on restart); default: a temporary file")
    parser.add_argument("--rate-limit", type=float, default=50, metavar="N", help="requests/s per tenant (0 = unlimited)")
    parser.add_argument("--latency-ms", type=int, default=0, metavar="MS", help="added to every request")
    parser.add_argument("--fail-rate", type=float, default=0.0, metavar="F", help="fraction of requests that fail (0..1)")


def serve_from_arguments(args: argparse.Namespace, on_ready: Callable[[str], None]) -> None:
    """`serve` with the options `add_serve_arguments` parsed."""
    serve(
        host=args.host, port=args.port, scale=args.scale, seed=args.seed, db_path=args.db,
        rate_limit=args.rate_limit, latency_ms=args.latency_ms, fail_rate=args.fail_rate, on_ready=on_ready,
        request_log=getattr(args, "request_log", None),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo_saas.server")
    add_serve_arguments(parser)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--request-log", default=None, help="append '<unix time> <tenant> <status> <method> <path>' per /v1 request")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    if args.parent_pid:
        exit_with_parent(args.parent_pid)

    def ready(url: str) -> None:
        print(READY_PREFIX + url, flush=True)

    try:
        serve_from_arguments(args, ready)
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
