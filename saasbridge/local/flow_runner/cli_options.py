"""Options shared by `saasbridge extract` and `saasbridge writeback`: how to reach the connector
and which profile secret to use."""

from __future__ import annotations

import argparse
from typing import Any

from saasbridge.errors import ConfigError


def add_connector_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connector (default: the AppFlow handler in this process)")
    g.add_argument("--function-name", help="invoke this Lambda function (deployed, or at --endpoint-url)")
    g.add_argument("--region", help="AWS region of --function-name")
    g.add_argument("--endpoint-url", help="a Lambda invoke endpoint, e.g. from `saasbridge lambda serve`")
    g.add_argument(
        "--secret-arn",
        help="an existing profile secret; default: create/update one from SAASBRIDGE_API_KEY etc. "
        "(Secrets Manager at AWS_ENDPOINT_URL locally)",
    )
    g.add_argument("--profile", default="local", help="connection profile name (names the secret)")
    g.add_argument(
        "--api-url", help="the API base URL (instanceUrl runtime setting); default SAASBRIDGE_API_URL"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def transport_from_args(args: argparse.Namespace) -> Any:
    from saasbridge.local.flow_runner import EndpointTransport, InProcessTransport, LambdaTransport

    if args.endpoint_url:
        return EndpointTransport(args.endpoint_url, args.function_name or "appflow")
    if args.function_name:
        if not args.region:
            import boto3

            if not boto3.Session().region_name:
                raise ConfigError("--function-name needs --region (or AWS_DEFAULT_REGION)")
        return LambdaTransport(args.function_name, region=args.region)
    if args.region:
        raise ConfigError("--region only applies with --function-name")
    return InProcessTransport()


def csv_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise ConfigError("expected a comma-separated list of field names, e.g. id,name")
    return items
