"""ReadRecords end to end: one split of a whole entity through `lambda_handler` (JSON in and out,
blocks spilled to the S3 stand-in) against the reference API with 50 ms latency and a rate limit.

rows/s vs the API bound (page size × min(rate limit, 1 cursor / latency)) and vs a bare cursor
walk of the same API in the same run (the API's real sequential speed, its own page-serving time
included), rows lost or doubled against the API's own database, and the 429s the API answered.

    python -m bench.readrecords [--quick]
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
ENTITY = "events"
# (label, API rate limit in requests/s): one case bound by latency, one by the rate limit.
CASES = (("latency-bound", 50.0), ("rate-bound", 5.0))


def read_one_split(invoker: MeteredInvoker, moto_url: str, entity: str) -> tuple[list[str], float, int]:
    """GetTable + GetSplits (one split) untimed, then the timed ReadRecords (spilled blocks read
    back included); returns the ids the split delivered, those seconds and the page size."""
    from athena_connector import protocol
    from saasbridge.catalog import load_catalog
    from saasbridge.drivers.athena import UNOBSERVED, AthenaDriver, TableScan

    driver = AthenaDriver(invoker, s3_endpoint_url=moto_url)
    s = driver.session(UNOBSERVED)
    schema, partition_columns = driver.get_table(s, "crm", entity, UNOBSERVED)
    scan = TableScan("crm", entity, schema, partition_columns, protocol.build_constraints({}, version=s.serde_version))
    _, splits = driver.layout_and_splits(s, scan, UNOBSERVED)
    if len(splits) != 1:
        raise RuntimeError(f"expected one split, the connector made {len(splits)}")
    invoker.reset()
    with Stopwatch() as watch:
        batches = driver.read_split(s, scan, schema, splits[0], UNOBSERVED)
    ids = [i for b in batches for i in b.column("id").to_pylist()]
    return ids, watch.seconds, load_catalog(catalog_path()).pagination.max_page_size


def run_case(label: str, rate: float, *, scale: float, moto_url: str) -> list[dict]:
    from saasbridge.local.processes import start_reference_api

    with workdir("readrecords") as tmp, start_reference_api(scale=scale, rate_limit=rate,
                                                             latency_ms=LATENCY_MS) as api:
        catalog = catalog_with_budget(tmp, rate=rate, concurrency=4, scale=scale)
        walk_rows, walk_requests, walk_seconds = bare_cursor_walk(api.url, ENTITY, 1000)
        time.sleep(max(1.0, walk_requests / rate))  # let the API's token bucket refill
        invoker = MeteredInvoker()
        with connector_environment(api.url, moto_url, catalog, SAASBRIDGE_ATHENA_MAX_SPLITS="1"):
            ids, seconds, page_size = read_one_split(invoker, moto_url, ENTITY)
        metrics = invoker.reset()
        truth = [r["id"] for r in truth_records(api.db_path, ENTITY)]  # type: ignore[arg-type]
    requests = int(metrics.get("ApiRequests", 0))
    throttled = int(metrics.get("ApiThrottled", 0))
    lost = len(set(truth) - set(ids))
    extra = len(ids) - len(set(ids)) + len(set(ids) - set(truth))
    bound = api_bound_rows_per_s(page_size=page_size, rate=rate, burst=int(rate), concurrency=1,
                                 latency_s=LATENCY_MS / 1000, seconds=seconds)
    rows_per_s = len(ids) / seconds
    ratio = rows_per_s / bound
    walk = walk_rows / walk_seconds
    setting = f"{ENTITY}, {len(truth):,} rows, {LATENCY_MS} ms, {rate:g} req/s"
    return [
        figure(f"ReadRecords one split ({label}: {setting})", round(rows_per_s), "rows/s", bound=round(bound),
               bound_label="API bound", ratio=ratio, target="≥ 0.8 × bound", passed=ratio >= 0.8,
               seconds=seconds, rows=len(ids), requests=requests, page_size=page_size),
        figure(f"ReadRecords one split vs a bare cursor walk of the same API ({label})", round(rows_per_s),
               "rows/s", bound=round(walk), bound_label="urllib3 + orjson, no conversion", ratio=rows_per_s / walk,
               target="≥ 0.8 × walk", passed=rows_per_s >= 0.8 * walk, walk_seconds=walk_seconds,
               walk_requests=walk_requests),
        figure(f"ReadRecords rows lost / extra ({label})", lost + extra, "rows", bound=len(truth),
               bound_label="source rows", target="0", passed=lost == 0 and extra == 0, lost=lost, extra=extra),
        figure(f"ReadRecords 429 responses ({label})", throttled, "429s", bound=requests,
               bound_label="API requests", bound_unit="", ratio=throttled / requests if requests else None,
               target="few (≤ 2% of requests)", passed=throttled <= max(1, 0.02 * requests)),
    ]


def run(quick: bool = False) -> list[dict]:
    from saasbridge.local.processes import start_moto_server

    scale = 0.1 if quick else 0.5
    out: list[dict] = []
    with start_moto_server() as moto:
        create_bucket(moto.url)
        for label, rate in CASES:
            out += run_case(label, rate, scale=scale, moto_url=moto.url)
    return out


def main() -> None:
    run_from_command_line(run, __doc__, quick_help="a smaller table")


if __name__ == "__main__":
    main()
