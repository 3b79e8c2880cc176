"""`saasbridge extract ENTITY --to URI`: run an AppFlow-style flow (connector → S3 or a directory)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from saasbridge.cli.connector_options import add_connector_options, csv_list, invoker_from_args


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "extract",
        help="copy an entity to S3 or a directory through the AppFlow connector (a local flow run)",
        description="Plays AppFlow's part: DescribeConnectorConfiguration, (profile validation when the "
        "secret is new), DescribeEntity, then QueryData pages until no nextToken; writes "
        "<to>/<flow>/<execution id>/part-NNNNN.<format>.",
    )
    p.add_argument("entity", help="entity to extract, e.g. accounts")
    p.add_argument("--to", required=True, help="s3://bucket/prefix or a local directory")
    p.add_argument(
        "--incremental", action="store_true", help="only records changed since the flow's last run"
    )
    p.add_argument(
        "--where", help="filter in AppFlow's filter language, e.g. \"country = 'DE' and employees > 50\""
    )
    p.add_argument("--fields", help="comma-separated fields to extract (default: all)")
    p.add_argument("--format", choices=("parquet", "csv", "jsonl"), default="parquet", help="output format")
    p.add_argument(
        "--for-training", metavar="TARGET_COLUMN", help="also write SageMaker train/validation channels"
    )
    p.add_argument(
        "--training-format", choices=("csv", "parquet"), default="csv", help="training channel format"
    )
    p.add_argument("--validation-fraction", type=float, default=0.2, help="share of records for validation")
    p.add_argument(
        "--flow-name", help="flow name (output folder and incremental state); default saasbridge-ENTITY"
    )
    p.add_argument("--max-results", type=int, default=1000, help="records per QueryData call (maxResults)")
    p.add_argument("--page-size", type=int, help="records per API request (pageSize runtime setting)")
    p.add_argument(
        "--rows-per-file", type=int, default=100_000, help="start a new output file after this many rows"
    )
    p.add_argument("--lookback", type=float, metavar="SECONDS", help="incremental overlap (default 300 s)")
    add_connector_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saasbridge.local.flow_runner import ExtractOptions, run_extract
    from saasbridge.local.local_aws import aws_for_flow

    options = ExtractOptions(
        entity=args.entity, to=args.to, incremental=args.incremental, where=args.where,
        fields=csv_list(args.fields), format=args.format, for_training=args.for_training,
        training_format=args.training_format, validation_fraction=args.validation_fraction,
        flow_name=args.flow_name, invoker=invoker_from_args(args), secret_arn=args.secret_arn,
        profile_name=args.profile, api_url=args.api_url, page_size=args.page_size,
        max_results=args.max_results, rows_per_file=args.rows_per_file, lookback_seconds=args.lookback,
        progress=False if args.no_progress else None,
    )  # fmt: skip
    with aws_for_flow(options.invoker, options.secret_arn, [options.to]):
        result = run_extract(options)
    print(result.summary())
    if result.training_manifest_uri:
        print(f"training manifest: {result.training_manifest_uri}")
    if result.state_uri:
        print(f"incremental state: {result.state_uri}", file=sys.stderr)
    return 0
