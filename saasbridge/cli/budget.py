"""`saasbridge budget init | show`: the DynamoDB table every process shares its API budget through."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from typing import Any

from saasbridge.errors import ConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "budget",
        help="create or read the shared API budget table (rate limit, quotas, per-query usage)",
        description="One API budget for every process: a token bucket and request quotas per catalog and "
        "credential in a DynamoDB table (at AWS_ENDPOINT_URL when set). Processes use it when "
        "SAASBRIDGE_BUDGET_TABLE or the catalog's rate_limit.shared.table names it.",
    )
    sub = parser.add_subparsers(dest="budget_command", metavar="SUBCOMMAND", parser_class=type(parser))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    init = sub.add_parser("init", help="create the table (on-demand capacity, TTL on old counters)")
    init.add_argument("--table", required=True, metavar="NAME", help="table name, e.g. saasbridge-budget")
    init.set_defaults(func=run_init)

    show = sub.add_parser("show", help="the bucket, quotas and per-query usage of this catalog and credential")
    show.add_argument("--table", metavar="NAME", help="default: $SAASBRIDGE_BUDGET_TABLE or the catalog's")
    show.add_argument("--catalog", metavar="FILE", help="catalog file (default: $SAASBRIDGE_CATALOG or the demo)")
    show.add_argument("--query-id", metavar="ID", help="only this Athena query id or AppFlow execution id")
    show.add_argument("--limit", type=int, default=20, metavar="N", help="most recent runs shown (default 20)")
    show.set_defaults(func=run_show)


def run_init(args: argparse.Namespace) -> int:
    from saasbridge.client.budget.admin import create_table

    created = create_table(args.table)
    print(f"table {args.table} {'created' if created else 'already exists'}; use it with "
          f"SAASBRIDGE_BUDGET_TABLE={args.table} or rate_limit.shared.table in the catalog")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from saasbridge.client.budget import budget_table
    from saasbridge.client.budget.admin import read_tenant
    from saasbridge.client.budget.dynamodb import period_keys, tenant_key
    from saasbridge.runtime import CATALOG_ENV, Runtime

    runtime = Runtime.from_env({**os.environ, CATALOG_ENV: args.catalog} if args.catalog else None)
    catalog = runtime.catalog
    table = args.table or budget_table(catalog.rate_limit)
    if not table:
        raise ConfigError("no budget table named; pass --table NAME or set SAASBRIDGE_BUDGET_TABLE")
    identity = runtime.credentials.identity()
    tenant = read_tenant(table, tenant_key(catalog.name, identity))
    runs = [r for r in tenant.usage if not args.query_id or r.run_id == args.query_id]
    budget = catalog.rate_limit
    print(f"table {table}, catalog {catalog.name}, credential {identity} (a hash)")
    now = time.time()
    if tenant.bucket is None:
        print("no process has used this budget yet")
    else:
        b = tenant.bucket
        free = b.tokens(now, budget.requests_per_second, budget.burst)
        state = f"{free:.1f} of {budget.burst} tokens free" if free >= 0 else f"a queue of {-free:.0f} tokens"
        print(f"bucket: {state} at {budget.requests_per_second:g} req/s; {b.granted:,} tokens taken, "
              f"{b.returned:,} of them unused")
    shared = budget.shared
    for (period, (key, resets)), label in zip(period_keys(now).items(), ("today", "this hour"), strict=True):
        quota = shared.quota(period)
        used = tenant.counts.get(f"{period}#{key}")
        if used is None and not quota:
            continue
        used = used or 0
        limit = f" of {quota:,} ({used / quota:.0%}; new scans refused from {shared.refuse_at:.0%})" if quota else ""
        print(f"requests {label}: {used:,}{limit}; resets {resets:%Y-%m-%d %H:%M} UTC")
    if not runs:
        print("no per-query usage recorded" + (f" for {args.query_id}" if args.query_id else ""))
        return 0
    print(f"{'kind':<8} {'query / execution id':<40} {'requests':>8} {'retries':>7} {'429s':>5} {'calls':>5}  last")
    for run in runs[: max(1, args.limit)]:
        last = dt.datetime.fromtimestamp(run.updated_at, dt.UTC)
        print(f"{run.kind:<8} {run.run_id:<40} {run.requests:>8,} {run.retries:>7,} {run.throttled:>5,} "
              f"{run.invocations:>5,}  {last:%Y-%m-%d %H:%M:%S}")
    return 0
