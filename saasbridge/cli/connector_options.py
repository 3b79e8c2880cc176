"""Options shared by `saasbridge extract`, `writeback` and `predict`: how to reach the AppFlow connector
and which profile secret to use."""

from __future__ import annotations

import argparse

from saasbridge.drivers.lambda_invoker import Invoker, invoker_for
from saasbridge.errors import ConfigError


def add_connector_options(p: argparse.ArgumentParser, *, aws_options: bool = False) -> None:
    """The connector group; with `aws_options` (a command that also has the AWS credentials group,
    saasbridge/cli/aws_options.py) its --region serves --function-name too, and the connection
    profile is --connection-profile (--profile is the AWS profile there)."""
    g = p.add_argument_group("connector (default: the AppFlow handler in this process)")
    g.add_argument("--function-name", help="invoke this Lambda function (deployed, or at --endpoint-url)"
                   + (" in --region" if aws_options else ""))
    if not aws_options:
        g.add_argument("--region", help="AWS region of --function-name")
    g.add_argument("--endpoint-url", help="a Lambda invoke endpoint, e.g. from `saasbridge lambda serve`")
    g.add_argument(
        "--secret-arn",
        help="an existing profile secret; default: create/update one from SAASBRIDGE_API_KEY etc. "
        "(Secrets Manager at AWS_ENDPOINT_URL locally)",
    )
    g.add_argument("--connection-profile" if aws_options else "--profile", dest="profile", default="local",
                   help="connection profile name (names the secret)")
    g.add_argument(
        "--api-url", help="the API base URL (instanceUrl runtime setting); default SAASBRIDGE_API_URL"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def invoker_from_args(args: argparse.Namespace, *, aws_options: bool = False) -> Invoker:
    """The AppFlow connector the options name: --endpoint-url, --function-name, or in process."""
    if args.region and not (args.function_name or args.endpoint_url) and not aws_options:
        raise ConfigError("--region only applies with --function-name")
    return invoker_for(
        "appflow", function_name=args.function_name, region=args.region, endpoint_url=args.endpoint_url
    )


def csv_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise ConfigError("expected a comma-separated list of field names, e.g. id,name")
    return items
