"""Tour section: Athena SQL through the connector, via the local Lambda invoke endpoint."""

from __future__ import annotations

import contextlib
from typing import Any

from saasbridge.local.env import temporary_env

SPILL_BUCKET = "saasbridge-demo-spill"

QUERIES = [
    ("The tables Athena sees", "SHOW TABLES IN crm", {}),
    (
        "A filtered query: the filter goes to the API, so it takes few requests",
        "SELECT id, name, country, employees FROM crm.accounts WHERE country = 'DE' AND employees > 1000",
        {},
    ),
    (
        "An aggregation",
        "SELECT stage, count(*) AS deals, sum(amount) AS total FROM crm.deals GROUP BY stage ORDER BY total DESC",
        {},
    ),
    (
        "A join across entities",
        "SELECT a.country, count(*) AS won_deals, sum(d.amount) AS revenue FROM crm.deals d "
        "JOIN crm.accounts a ON a.id = d.account_id WHERE d.stage = 'closed_won' "
        "GROUP BY a.country ORDER BY revenue DESC LIMIT 5",
        {},
    ),
    (
        "A large scan that spills to S3 (small inline block size)",
        "SELECT type, count(*) AS events, avg(duration_ms) AS avg_ms FROM crm.events GROUP BY type ORDER BY events DESC",
        {"max_inline_block_size": 200_000, "max_block_size": 1_000_000},
    ),
]


def _env(ctx: Any) -> dict[str, str]:
    return {**ctx.env(), "spill_bucket": SPILL_BUCKET, "spill_prefix": "athena-spill"}


def _create_bucket(ctx: Any) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=ctx.s3_url)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=SPILL_BUCKET)


def run(ctx: Any) -> None:
    from saasbridge.local.engine import EndpointInvoker, Engine, EngineOptions, run_sql
    from saasbridge.local.lambda_endpoint import LambdaEndpoint

    ctx.heading("SQL: Athena federated query, played locally")
    # The connector (served in this process) reads its settings from the environment.
    with temporary_env(**_env(ctx)):
        _create_bucket(ctx)
        with LambdaEndpoint() as endpoint:
            ctx.say(
                f"Lambda invoke endpoint on {endpoint.url}; every query below goes through it with boto3."
            )
            for title, sql, limits in QUERIES:
                engine = Engine(
                    EngineOptions(
                        invoker=EndpointInvoker(endpoint.url),
                        s3_endpoint_url=ctx.s3_url,
                        **limits,
                    )
                )
                result = run_sql(engine, sql)
                ctx.say("")
                ctx.say(f"{title}:")
                ctx.say(f"  {sql}")
                shown = result.table.slice(0, 10)
                ctx.table(shown.column_names, [list(r.values()) for r in shown.to_pylist()])
                ctx.say(f"  {result.stats.line()}")
