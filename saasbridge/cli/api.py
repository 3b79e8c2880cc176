"""`saasbridge api serve`: run the reference SaaS API in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

from saasbridge.errors import ConfigError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("api", help="the reference SaaS API (the embedded default)")
    actions = p.add_subparsers(dest="api_action", metavar="ACTION", parser_class=type(p))
    serve = actions.add_parser(
        "serve",
        help="serve the reference SaaS API until Ctrl-C",
        description="Seed a SQLite database and serve the reference SaaS API (see docs/reference-api.md).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any free port)")
    serve.add_argument("--scale", type=float, default=1.0, help="data size: 1.0 = 2,000 accounts … 100,000 events per tenant")
    serve.add_argument("--seed", type=int, default=42, help="random seed of the demo data and of injected faults")
    serve.add_argument("--db", metavar="PATH", help="keep the database in PATH (reused on restart); default: a temporary file")
    serve.add_argument("--rate-limit", type=float, default=50, metavar="N", help="requests/s per tenant (0 = unlimited)")
    serve.add_argument("--latency-ms", type=int, default=0, metavar="MS", help="added to every request")
    serve.add_argument("--fail-rate", type=float, default=0.0, metavar="F", help="fraction of requests that fail (0..1)")
    serve.set_defaults(func=run_serve)
    p.set_defaults(func=lambda _args: p.print_help() or 2)


def credentials_text(url: str) -> str:
    """The banner: where the API is and the demo credentials of each tenant."""
    from demo_saas.app import API_KEYS, OAUTH_CLIENTS

    lines = [f"Reference SaaS API on {url}  (OpenAPI: {url}/openapi.json)", "Demo credentials:"]
    for key, tenant in API_KEYS.items():
        client_id, (secret, _) = next((c, v) for c, v in OAUTH_CLIENTS.items() if v[1] == tenant)
        lines.append(
            f"  tenant {tenant:<7} API key: {key:<16} OAuth2 client: {client_id} / {secret}  (POST {url}/oauth/token)"
        )
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def run_serve(args: argparse.Namespace) -> int:
    from demo_saas.server import ServeError, exit_cleanly_on_sigterm, serve

    exit_cleanly_on_sigterm()

    def announce(url: str) -> None:
        print(credentials_text(url), flush=True)

    try:
        serve(
            host=args.host, port=args.port, scale=args.scale, seed=args.seed, db_path=args.db,
            rate_limit=args.rate_limit, latency_ms=args.latency_ms, fail_rate=args.fail_rate, on_ready=announce,
        )
    except ServeError as exc:
        raise ConfigError(str(exc)) from None
    except KeyboardInterrupt:
        print("stopped", flush=True)
    return 0
