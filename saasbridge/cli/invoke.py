"""`saasbridge invoke athena|appflow EVENT.json`: invoke a connector handler with an event file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from saasbridge.errors import ConfigError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "invoke",
        help="invoke a connector handler with an event file and print the response",
        description="Invoke the Athena or AppFlow handler in-process (the event still goes through JSON bytes), "
        "or through a Lambda invoke endpoint with --endpoint-url.",
    )
    p.add_argument("handler", choices=("athena", "appflow"), help="which connector")
    p.add_argument("event", help="JSON file with the event ('-' = stdin)")
    p.add_argument("--endpoint-url", help="a Lambda invoke endpoint (e.g. from `saasbridge lambda serve`)")
    p.add_argument(
        "--function-name", help="function name to invoke at the endpoint (default: the handler name)"
    )
    p.add_argument("--region", help="AWS region, to invoke a deployed function by --function-name")
    p.set_defaults(func=run)


def read_event(path: str) -> dict:
    try:
        raw = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()  # noqa: SIM115
    except OSError as exc:
        raise ConfigError(f"cannot read event file {path!r}: {exc.strerror}") from exc
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"event file {path!r} is not valid JSON ({exc}); fix the file") from exc
    if not isinstance(event, dict):
        raise ConfigError(f"event file {path!r} must hold a JSON object")
    return event


def run(args: argparse.Namespace) -> int:
    from saasbridge.drivers.lambda_invoker import invoker_for

    event = read_event(args.event)
    invoker = invoker_for(
        args.handler, function_name=args.function_name, region=args.region, endpoint_url=args.endpoint_url
    )
    result = invoker.invoke(event)
    sys.stdout.write(orjson.dumps(result.payload, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
