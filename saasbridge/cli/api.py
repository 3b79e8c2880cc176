"""`saasbridge api serve`: run the reference SaaS API in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

from saasbridge.errors import ConfigError


def register(subparsers: Any) -> None:
    from demo_saas.server import add_serve_arguments

    p = subparsers.add_parser("api", help="the reference SaaS API (the embedded default)")
    actions = p.add_subparsers(dest="api_action", metavar="ACTION", parser_class=type(p))
    serve = actions.add_parser(
        "serve",
        help="serve the reference SaaS API until Ctrl-C",
        description="Seed a SQLite database and serve the reference SaaS API (see docs/reference-api.md).",
    )
    add_serve_arguments(serve)
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
    from demo_saas.server import ServeError, exit_cleanly_on_sigterm, serve_from_arguments

    exit_cleanly_on_sigterm()

    def announce(url: str) -> None:
        print(credentials_text(url), flush=True)

    try:
        serve_from_arguments(args, announce)
    except ServeError as exc:
        raise ConfigError(str(exc)) from None
    except KeyboardInterrupt:
        print("stopped", flush=True)
    return 0
