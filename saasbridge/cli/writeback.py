"""`saasbridge writeback ENTITY --from FILE_OR_S3`: send rows to a writable entity through WriteData."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from saasbridge.cli.connector_options import add_connector_options, csv_list, invoker_from_args

MAX_FAILURES_SHOWN = 20


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "writeback",
        help="write rows (CSV/Parquet/JSONL, local or s3://) to an entity through the AppFlow connector",
        description="Plays AppFlow's part of an S3 → connector flow: WriteData in batches, one result per row; "
        "exits non-zero when any row failed.",
    )
    p.add_argument("entity", help="writable entity, e.g. predictions")
    p.add_argument("--from", dest="source", required=True, help="a .csv/.parquet/.jsonl file or s3:// object")
    p.add_argument("--operation", choices=("insert", "upsert", "update", "delete"), default="insert")
    p.add_argument("--batch-size", type=int, default=100, help="records per WriteData call")
    p.add_argument("--columns", help="comma-separated input columns to send (default: all)")
    add_connector_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saasbridge.local.flow_runner import WritebackOptions, run_writeback
    from saasbridge.local.local_aws import aws_for_flow

    options = WritebackOptions(
        entity=args.entity, source=args.source, operation=args.operation, batch_size=args.batch_size,
        columns=csv_list(args.columns), invoker=invoker_from_args(args), secret_arn=args.secret_arn,
        profile_name=args.profile, api_url=args.api_url, progress=False if args.no_progress else None,
    )  # fmt: skip
    with aws_for_flow(options.invoker, options.secret_arn, [options.source]):
        result = run_writeback(options)
    for failure in result.failures[:MAX_FAILURES_SHOWN]:
        rid = f" (id {failure.record_id})" if failure.record_id else ""
        print(f"row {failure.row}{rid}: {failure.message}", file=sys.stderr)
    if len(result.failures) > MAX_FAILURES_SHOWN:
        print(f"… and {len(result.failures) - MAX_FAILURES_SHOWN} more failed rows", file=sys.stderr)
    print(result.summary())
    return 1 if result.failures else 0
