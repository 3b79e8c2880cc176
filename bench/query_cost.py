"""What a query costs: Lambda GB-seconds and SaaS API requests per million rows, for the Athena
connector (a full scan and a filtered one, through the local engine) and for an AppFlow extract
(per million records), against the reference API with 50 ms latency and 50 requests/s.

GB-seconds: the sum over every invocation of the connector (metadata, splits and reads; every
QueryData of the extract) of its duration in this process rounded up to 1 ms, as Lambda bills it,
times the template's default memory (`LambdaMemory`). Each figure's bound is the same rows read at
the API bound by the splits the query used (memory × splits × rows / API-bound rows per second);
requests are the connector's own count, bounded by one request per page of 1,000 rows (and one
partial page per further split). Money is GB-seconds × the price per GB-second of your region and
architecture, a parameter: set SAASBRIDGE_BENCH_PRICE_PER_GB_S and each GB-s figure's details
carry `cost_per_million_rows` (Lambda's price per request comes on top, per invocation).

    python -m bench.query_cost [--quick]
"""

from __future__ import annotations

import math
import os
import re

from bench.support import (
    REPO,
    MeteredInvoker,
    Stopwatch,
    api_bound_rows_per_s,
    catalog_with_budget,
    connector_environment,
    create_bucket,
    figure,
    run_from_command_line,
    truth_records,
    workdir,
)

LATENCY_MS = 50
RATE = 50.0  # requests/s (burst the same), as in bench.scan
ENTITY = "events"
FILTER = ("type", "meeting")  # an equality the API applies itself (the catalog's `filters`)
PER = 1_000_000
PAGE = 1000  # the reference API's largest page, the connectors' default
PRICE_VARIABLE = "SAASBRIDGE_BENCH_PRICE_PER_GB_S"


def default_memory_mb() -> int:
    """The template's default `LambdaMemory` (both functions)."""
    found = re.search(r"(?m)^  LambdaMemory:\n(?:    .*\n)*?    Default: (\d+)", (REPO / "template.yaml").read_text())
    if found is None:
        raise RuntimeError("template.yaml has no LambdaMemory parameter with a Default")
    return int(found[1])


def cost_figures(what: str, rows: int, metrics: dict[str, float], *, memory_mb: int, concurrency: int,
                 seconds: float, invocations: int) -> list[dict]:
    """GB-seconds and API requests per million rows, each against its bound at the API bound."""
    gb = memory_mb / 1024
    gb_s = metrics["BilledMs"] / 1000 * gb
    at_bound = gb * concurrency * rows / api_bound_rows_per_s(
        page_size=PAGE, rate=RATE, burst=int(RATE), concurrency=concurrency, latency_s=LATENCY_MS / 1000,
        seconds=seconds)
    requests = int(metrics.get("ApiRequests", 0))
    fewest = max(1, math.ceil(rows / PAGE)) + concurrency - 1  # each further split may end on a partial page
    price = float(os.environ.get(PRICE_VARIABLE) or 0) or None
    money = {"price_per_gb_s": price, "cost_per_million_rows": gb_s * PER / rows * price} if price else {}
    return [
        figure(f"{what}: Lambda GB-s per million rows ({memory_mb} MB)", gb_s * PER / rows, "GB-s",
               bound=at_bound * PER / rows, bound_label=f"at the API bound, {concurrency} at a time",
               ratio=gb_s / at_bound, target="≤ 1.25 × at the API bound", passed=gb_s <= 1.25 * at_bound,
               rows=rows, gb_seconds=gb_s, seconds=seconds, invocations=invocations, memory_mb=memory_mb,
               concurrency=concurrency, **money),
        figure(f"{what}: SaaS API requests per million rows", requests * PER / rows, "requests",
               bound=fewest * PER / rows, bound_label="one per page, a partial one per further split",
               ratio=requests / fewest, target="≤ 1.1 × bound, no 429s",
               passed=requests <= 1.1 * fewest and not metrics.get("ApiThrottled"), requests=requests,
               throttled=int(metrics.get("ApiThrottled", 0))),
    ]


def athena_query(moto_url: str, sql: str) -> tuple[list[str], dict[str, float], float, int, int]:
    """(ids, connector metrics, seconds, splits, invocations) of one query through the engine."""
    from saasbridge.local.engine import Engine, EngineOptions

    invoker = MeteredInvoker()
    engine = Engine(EngineOptions(invoker=invoker, parallelism=8, s3_endpoint_url=moto_url))
    with Stopwatch() as watch:
        result = engine.execute(sql)
    return result.table.column("id").to_pylist(), invoker.reset(), watch.seconds, result.stats.splits, \
        invoker.invocations


def appflow_extract(api_url: str, out: str) -> tuple[int, dict[str, float], float, int]:
    """(records, connector metrics, seconds, invocations) of one `saasbridge extract` of the entity."""
    from saasbridge.local.flow_runner import ExtractOptions, run_extract

    invoker = MeteredInvoker("appflow")
    with Stopwatch() as watch:
        result = run_extract(ExtractOptions(entity=ENTITY, to=out, format="parquet", api_url=api_url,
                                            progress=False, invoker=invoker))
    return result.records, invoker.reset(), watch.seconds, invoker.invocations


def run(quick: bool = False) -> list[dict]:
    import time

    from saasbridge.local.processes import start_moto_server, start_reference_api

    scale = 0.1 if quick else 0.5
    memory = default_memory_mb()
    out: list[dict] = []
    with workdir("cost") as tmp, start_moto_server() as moto, \
            start_reference_api(scale=scale, rate_limit=RATE, latency_ms=LATENCY_MS) as api:
        create_bucket(moto.url)
        truth = truth_records(api.db_path, ENTITY)  # type: ignore[arg-type]
        column, value = FILTER
        cases = (
            ("Athena full scan", f"SELECT * FROM crm.{ENTITY}", {r["id"] for r in truth}),
            (f"Athena filtered scan ({column} = '{value}')", f"SELECT * FROM crm.{ENTITY} WHERE {column} = '{value}'",
             {r["id"] for r in truth if r[column] == value}),
        )
        catalog = catalog_with_budget(tmp, rate=RATE, concurrency=8, scale=scale)
        with connector_environment(api.url, moto.url, catalog):  # one-time imports: the cold_start figures
            athena_query(moto.url, cases[1][1])
        for what, sql, expected in cases:
            time.sleep(2.0)  # the API's and the client's token buckets refill between runs
            with connector_environment(api.url, moto.url, catalog):
                ids, metrics, seconds, splits, invocations = athena_query(moto.url, sql)
            if len(ids) != len(expected) or set(ids) != expected:
                raise RuntimeError(f"{what}: {len(ids)} rows, expected {len(expected)}")
            out += cost_figures(f"{what}, {len(ids):,} rows, {splits} split(s)", len(ids), metrics,
                                memory_mb=memory, concurrency=splits, seconds=seconds, invocations=invocations)
        time.sleep(2.0)
        with connector_environment(api.url, moto.url, catalog):
            records, metrics, seconds, invocations = appflow_extract(api.url, os.path.join(tmp, "extract"))
        if records != len(truth):
            raise RuntimeError(f"AppFlow extract: {records} records, expected {len(truth)}")
        out += cost_figures(f"AppFlow extract, {records:,} records", records, metrics, memory_mb=memory,
                            concurrency=1, seconds=seconds, invocations=invocations)
    return out


def main() -> None:
    run_from_command_line(run, __doc__, quick_help="a tenth of the rows")


if __name__ == "__main__":
    main()
