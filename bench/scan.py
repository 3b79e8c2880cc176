"""Full-table SQL scan through the local engine (GetSplits → parallel ReadRecords → DuckDB) with
1, 2, 4 and 8 splits, against the reference API with 50 ms latency and a rate limit.

Per split count: rows/s vs the API bound (page size × min(rate limit, splits / latency)), the
speed-up over one split, and 429s; rows checked against the API's own database.

    python -m bench.scan [--quick]
"""

from __future__ import annotations

import time

from bench.support import (
    MeteredInvoker,
    Stopwatch,
    api_bound_rows_per_s,
    bare_cursor_walk,
    catalog_with_budget,
    connector_environment,
    create_bucket,
    figure,
    run_from_command_line,
    truth_records,
    workdir,
)
from saasbridge.runtime import catalog_path

LATENCY_MS = 50
RATE = 50.0  # the reference API's default rate limit (requests/s, burst the same)
ENTITY = "events"
SPLITS = (1, 2, 4, 8)


def scan_once(moto_url: str, splits: int) -> tuple[list[str], float, dict, int]:
    """One `SELECT *` of the entity with at most `splits` splits: (ids, seconds, metrics, splits made)."""
    from saasbridge.local.engine import Engine, EngineOptions

    invoker = MeteredInvoker()
    engine = Engine(EngineOptions(invoker=invoker, parallelism=splits, s3_endpoint_url=moto_url))
    engine.list_schemas()  # ping and capabilities outside the timing
    invoker.reset()
    with Stopwatch() as watch:
        result = engine.execute(f"SELECT * FROM crm.{ENTITY}")
    return result.table.column("id").to_pylist(), watch.seconds, invoker.reset(), result.stats.splits


def run(quick: bool = False) -> list[dict]:
    from saasbridge.catalog import load_catalog
    from saasbridge.local.processes import start_moto_server, start_reference_api

    scale = 0.1 if quick else 0.5
    page_size = load_catalog(catalog_path()).pagination.max_page_size
    out: list[dict] = []
    with workdir("scan") as tmp, start_moto_server() as moto, \
            start_reference_api(scale=scale, rate_limit=RATE, latency_ms=LATENCY_MS) as api:
        create_bucket(moto.url)
        truth = {r["id"] for r in truth_records(api.db_path, ENTITY)}  # type: ignore[arg-type]
        catalog = catalog_with_budget(tmp, rate=RATE, concurrency=max(SPLITS), scale=scale)
        walk_rows, walk_requests, walk_seconds = bare_cursor_walk(api.url, ENTITY, page_size)
        first: float | None = None
        for n in SPLITS:
            time.sleep(2.0)  # the API's and the client's token buckets refill between runs
            # The scaling curve is the point here, so split counts are forced (min 1 page per split);
            # how many splits GetSplits chooses by itself is measured in bench.requests.
            with connector_environment(api.url, moto.url, catalog, SAASBRIDGE_ATHENA_MAX_SPLITS=str(n),
                                       SAASBRIDGE_ATHENA_MIN_PAGES_PER_SPLIT="1"):
                ids, seconds, metrics, made = scan_once(moto.url, n)
            rows_per_s = len(ids) / seconds
            first = first or rows_per_s
            bound = api_bound_rows_per_s(page_size=page_size, rate=RATE, burst=int(RATE), concurrency=made,
                                         latency_s=LATENCY_MS / 1000, seconds=seconds)
            exact = len(ids) == len(set(ids)) and set(ids) == truth
            requests = int(metrics.get("ApiRequests", 0))
            throttled = int(metrics.get("ApiThrottled", 0))
            out.append(figure(
                f"SQL full scan, {made} split(s) ({ENTITY}, {len(truth):,} rows, {LATENCY_MS} ms, {RATE:g} req/s)",
                round(rows_per_s), "rows/s", bound=round(bound), bound_label="API bound", ratio=rows_per_s / bound,
                target="≥ 0.8 × bound, exact rows, few 429s",
                passed=rows_per_s >= 0.8 * bound and exact and throttled <= max(1, 0.02 * requests),
                splits=made, seconds=seconds, rows=len(ids), exact=exact, requests=requests, throttled=throttled,
                speedup_vs_one_split=rows_per_s / first,
            ))
        most = out[-1]
        out.append(figure(
            f"SQL full scan: {most['splits']} splits vs 1 split ({ENTITY})", most["value"], "rows/s",
            bound=out[0]["value"], bound_label="1 split", ratio=most["value"] / out[0]["value"],
            target="> 1 (splits help)", passed=most["value"] > out[0]["value"],
        ))
        out.append(figure(
            f"SQL full scan: best split count vs a bare sequential cursor walk ({ENTITY})",
            max(r["value"] for r in out), "rows/s", bound=round(walk_rows / walk_seconds),
            bound_label="urllib3 + orjson, 1 cursor", ratio=max(r["value"] for r in out) / (walk_rows / walk_seconds),
            target="> 1", passed=max(r["value"] for r in out) > walk_rows / walk_seconds,
            walk_requests=walk_requests, walk_seconds=walk_seconds,
        ))
    return out


def main() -> None:
    run_from_command_line(run, __doc__, quick_help="a smaller table")


if __name__ == "__main__":
    main()
