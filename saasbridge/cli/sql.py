"""`saasbridge sql "SELECT …"`: run Athena SQL locally against the connector."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from saasbridge.errors import ConfigError

FORMATS = ("table", "csv", "json", "parquet")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sql",
        help="run Athena SQL against the connector (local engine)",
        description="Run one SQL statement (SELECT, SHOW SCHEMAS, SHOW TABLES [IN schema], DESCRIBE schema.table) "
        "the way Athena would: through the connector's JSON protocol.",
    )
    p.add_argument("query", help='the statement, e.g. "SELECT * FROM crm.accounts LIMIT 10"')
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the rows to FILE instead of stdout")
    p.add_argument(
        "--explain", action="store_true", help="show the constraints and splits planned; read no rows"
    )
    p.add_argument("--function-name", help="a deployed connector Lambda to invoke (with --region)")
    p.add_argument("--region", help="AWS region of --function-name")
    p.add_argument("--endpoint-url", help="a Lambda invoke endpoint, e.g. one from `saasbridge lambda serve`")
    p.add_argument(
        "--parallelism", type=int, default=4, metavar="N", help="concurrent ReadRecords calls (default 4)"
    )
    p.add_argument("--catalog-name", default="saas", help="the Athena data source name (default: saas)")
    p.add_argument("--api-url", help="in-process only: the SaaS API base URL (sets SAASBRIDGE_API_URL)")
    p.add_argument(
        "--max-inline-block-size",
        type=int,
        metavar="BYTES",
        help="larger results are spilled to S3 (default 3465000)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from saasbridge.local.engine import run_sql
    from saasbridge.local.engine_api import make_engine
    from saasbridge.local.local_aws import aws_configured_locally, local_aws

    if args.parallelism < 1:
        raise ConfigError("--parallelism must be at least 1")
    if args.function_name and not args.region and not args.endpoint_url and not os.environ.get("AWS_REGION"):
        raise ConfigError("--function-name needs --region (or AWS_REGION) to find the deployed Lambda")
    if args.format == "parquet" and not args.output:
        raise ConfigError("--format parquet needs --output FILE")
    if args.api_url:
        os.environ["SAASBRIDGE_API_URL"] = args.api_url
    engine = make_engine(
        function_name=args.function_name,
        region=args.region,
        endpoint_url=args.endpoint_url,
        catalog_name=args.catalog_name,
        parallelism=args.parallelism,
        max_inline_block_size=args.max_inline_block_size,
    )
    in_process = not (args.function_name or args.endpoint_url)
    local = in_process and not os.environ.get("spill_bucket") and not aws_configured_locally()  # noqa: SIM112
    with local_aws(spill_bucket=True) if local else nullcontext():
        result = run_sql(engine, args.query, explain_only=args.explain)
    if args.explain:
        for line in result.explain():
            print(line)
        print(
            f"planned: {result.stats.splits} ReadRecords calls; so far {result.stats.lambda_calls} Lambda calls"
        )
        return 0
    write_table(result.table, args.format, args.output)
    print(result.stats.line(), file=sys.stderr)
    return 0


def unique_names(names: list[str]) -> list[str]:
    """Repeated column names suffixed as DuckDB does (`x, x, x_1` → `x, x_1, x_1_1`), so that no
    output format drops or misplaces a column."""
    used: dict[str, int] = {}
    out = []
    for name in names:
        if name in used:
            n = used[name]
            while f"{name}_{n}" in used:
                n += 1
            used[name] = n + 1
            name = f"{name}_{n}"
        used.setdefault(name, 1)
        out.append(name)
    return out


def write_table(table: Any, fmt: str, output: str | None) -> None:
    """Write an Arrow table as a rich table, CSV, JSON (array of objects) or Parquet."""
    table = table.rename_columns(unique_names(table.column_names))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, output)
        return
    if fmt == "csv":
        import pyarrow.csv as pacsv

        if output:
            pacsv.write_csv(_flat(table), output)
        else:
            import io

            sink = io.BytesIO()
            pacsv.write_csv(_flat(table), sink)
            sys.stdout.write(sink.getvalue().decode("utf-8"))
        return
    if fmt == "json":
        import orjson

        data = orjson.dumps(table.to_pylist(), default=str, option=orjson.OPT_INDENT_2) + b"\n"
        if output:
            with open(output, "wb") as fh:
                fh.write(data)
        else:
            sys.stdout.write(data.decode("utf-8"))
        return
    print_rich(table, output)


def _flat(table: Any) -> Any:
    """CSV has no nested values: lists, structs and maps become their JSON text."""
    import orjson
    import pyarrow as pa

    columns = []
    for col in table.columns:
        if pa.types.is_nested(col.type):
            col = pa.array(
                [None if v is None else orjson.dumps(v, default=str).decode() for v in col.to_pylist()],
                pa.string(),
            )
        columns.append(col)
    return pa.table(columns, names=table.column_names)


def print_rich(table: Any, output: str | None = None, *, max_rows: int = 200) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(show_lines=False, header_style="bold")
    for name in table.column_names:
        view.add_column(name, overflow="fold")
    for row in table.slice(0, max_rows).to_pylist():
        view.add_row(*("NULL" if v is None else str(v) for v in row.values()))
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            Console(file=fh, width=200).print(view)
        return
    console = Console()
    console.print(view)
    if table.num_rows > max_rows:
        console.print(f"… {table.num_rows - max_rows:,} more rows (use --format csv --output FILE for all)")
