"""`saasbridge lambda serve`: a local endpoint for the Lambda Invoke API serving both connectors."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from saasbridge.errors import ConfigError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("lambda", help="local Lambda tools")
    sub = p.add_subparsers(dest="lambda_command", metavar="COMMAND", parser_class=type(p))
    serve = sub.add_parser(
        "serve",
        help="serve both connector handlers on a loopback Lambda Invoke API endpoint",
        description="POST /2015-03-31/functions/{name}/invocations runs the Athena handler for names containing "
        "'athena' and the AppFlow handler for names containing 'appflow' (or as --alias maps them). "
        "Use it with boto3.client('lambda', endpoint_url=...) or `saasbridge sql --endpoint-url`.",
    )
    serve.add_argument(
        "--port", type=int, default=9001, help="loopback port (default 9001, 0 = any free port)"
    )
    serve.add_argument(
        "--alias",
        action="append",
        default=[],
        metavar="NAME=athena|appflow",
        help="map another function name",
    )
    serve.add_argument("--quiet", action="store_true", help="do not log each invocation")
    serve.set_defaults(func=run)
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])


def parse_aliases(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, _, kind = item.partition("=")
        if not name or kind not in ("athena", "appflow"):
            raise ConfigError(f"--alias {item!r} must look like NAME=athena or NAME=appflow")
        out[name] = kind
    return out


def run(args: argparse.Namespace) -> int:
    from saasbridge.local.lambda_endpoint import LambdaEndpoint

    try:
        endpoint = LambdaEndpoint(port=args.port, aliases=parse_aliases(args.alias), verbose=not args.quiet)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror}); choose another --port"
        ) from exc
    print(
        f"Lambda invoke endpoint on {endpoint.url} (functions: *athena*, *appflow*); Ctrl-C stops it",
        file=sys.stderr,
    )
    try:
        endpoint.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        endpoint.stop()
    return 0
