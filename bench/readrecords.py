"""ReadRecords end to end: one split of a whole entity through `lambda_handler` (JSON in and out,
blocks spilled to the S3 stand-in) against the reference API with 50 ms latency and a rate limit.

rows/s vs the API bound (page size × min(rate limit, 1 cursor / latency)) and vs a bare cursor
walk of the same API in the same run (the API's real sequential speed, its own page-serving time
included), rows lost or doubled against the API's own database, and the 429s the API answered.

    python -m bench.readrecords [--quick]
"""

from __future__ import annotations

import time
import uuid

from bench.support import (
    MeteredTransport,
    Stopwatch,
    api_bound_rows_per_s,
    bare_cursor_walk,
    catalog_with_budget,
    connector_environment,
    create_bucket,
    figure,
    run_from_command_line,
    s3_client,
    truth_records,
    workdir,
)
from saasbridge.runtime import catalog_path

LATENCY_MS = 50
ENTITY = "events"
# (label, API rate limit in requests/s): one case bound by latency, one by the rate limit.
CASES = (("latency-bound", 50.0), ("rate-bound", 5.0))


def read_one_split(transport: MeteredTransport, moto_url: str, entity: str) -> tuple[list[str], float, int]:
    """GetTable + GetSplits (one split) untimed, then the timed ReadRecords; returns the ids the
    split delivered, the ReadRecords seconds and its page size."""
    from athena_connector import protocol as p
    from saasbridge.catalog import load_catalog

    qid = str(uuid.uuid4())
    schema = p.decode_schema(transport.invoke("athena", p.build_get_table_request("saas", "crm", entity,
                                                                                 query_id=qid)).payload["schema"])
    cons = p.build_constraints({})
    parts = p.build_get_table_layout_request("saas", "crm", entity, constraints=cons, schema=schema, query_id=qid)
    layout = transport.invoke("athena", parts).payload
    splits = transport.invoke("athena", p.build_get_splits_request(
        "saas", "crm", entity, partitions=layout["partitions"], partition_columns=[], constraints=cons,
        query_id=qid)).payload["splits"]
    if len(splits) != 1:
        raise RuntimeError(f"expected one split, the connector made {len(splits)}")
    transport.reset()
    request = p.build_read_records_request("saas", "crm", entity, schema=schema, split=splits[0], constraints=cons,
                                           query_id=qid)
    with Stopwatch() as watch:
        response = transport.invoke("athena", request).payload
    if response["@type"] == "ReadRecordsResponse":
        batches = [p.decode_block(response["records"])]
    else:
        batches = list(p.read_spilled_blocks(s3_client(moto_url), response, schema))
    ids = [i for b in batches for i in b.column("id").to_pylist()]
    return ids, watch.seconds, load_catalog(catalog_path()).pagination.max_page_size


def run_case(label: str, rate: float, *, scale: float, moto_url: str) -> list[dict]:
    from saasbridge.local.processes import start_reference_api

    with workdir("readrecords") as tmp, start_reference_api(scale=scale, rate_limit=rate,
                                                             latency_ms=LATENCY_MS) as api:
        catalog = catalog_with_budget(tmp, rate=rate, concurrency=4, scale=scale)
        walk_rows, walk_requests, walk_seconds = bare_cursor_walk(api.url, ENTITY, 1000)
        time.sleep(max(1.0, walk_requests / rate))  # let the API's token bucket refill
        transport = MeteredTransport()
        with connector_environment(api.url, moto_url, catalog, SAASBRIDGE_ATHENA_MAX_SPLITS="1"):
            ids, seconds, page_size = read_one_split(transport, moto_url, ENTITY)
        metrics = transport.reset()
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
