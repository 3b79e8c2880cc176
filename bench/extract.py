"""Extraction of every reference entity to Parquet: `saasbridge extract` (the AppFlow connector
driven by the local flow runner) vs dlt's `rest_api` source configured for the same API (cursor
paginator, bearer auth, `data` selector, 1,000-row pages) writing Parquet to a local filesystem
destination. Same API process, same machine, same run: rows/s, API requests, rows checked.

saasbridge's requests are the connector's own count; dlt's are counted on its HTTP session
(`requests.Session.send`). Each tool extracts once untimed first, in this process, so neither
side's figure carries one-time costs (imports, first-use setup; figure 7 measures cold start):
the timed runs compare extraction throughput. Needs the `bench` extra (`pip install dlt`).

    python -m bench.extract [--quick]
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterator

import pyarrow.parquet as pq

from bench.support import (
    API_KEY,
    Stopwatch,
    connector_environment,
    figure,
    run_from_command_line,
    truth_records,
    workdir,
)

ENTITIES = ("accounts", "contacts", "deals", "events", "predictions")


def saasbridge_extract(api_url: str, out: str) -> tuple[dict[str, int], int, float]:
    """(rows per entity, API requests, seconds) of one `saasbridge extract` per entity."""
    from saasbridge.local.flow_runner import ExtractOptions, run_extract

    rows: dict[str, int] = {}
    requests = 0
    with Stopwatch() as watch:
        for entity in ENTITIES:
            result = run_extract(ExtractOptions(entity=entity, to=os.path.join(out, entity), format="parquet",
                                                api_url=api_url, progress=False))
            rows[entity] = result.records
            requests += result.api_requests or 0
    return rows, requests, watch.seconds


@contextlib.contextmanager
def counted_sends(prefix: str) -> Iterator[list[str]]:
    """Count every HTTP request sent through `requests` to `prefix` (dlt's HTTP client)."""
    import requests

    sent: list[str] = []
    original = requests.Session.send

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        if request.url.startswith(prefix):
            sent.append(request.url)
        return original(self, request, **kwargs)

    requests.Session.send = send  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        requests.Session.send = original  # type: ignore[method-assign]


def dlt_extract(api_url: str, out: str) -> tuple[dict[str, int], int, float]:
    """(rows per entity, API requests, seconds) of one dlt pipeline run over every entity."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source({
        "client": {
            "base_url": api_url + "/v1/",
            "auth": {"type": "bearer", "token": API_KEY},
            "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
        },
        "resource_defaults": {"endpoint": {"params": {"limit": 1000}, "data_selector": "data"},
                              "write_disposition": "replace"},
        "resources": list(ENTITIES),
    })
    pipeline = dlt.pipeline(pipeline_name="bench_extract", destination=dlt.destinations.filesystem(
        bucket_url="file://" + os.path.join(out, "data")), dataset_name="crm",
        pipelines_dir=os.path.join(out, "pipelines"))
    with counted_sends(api_url) as sent, Stopwatch() as watch:
        pipeline.run(source, loader_file_format="parquet")
    rows = {e: sum(pq.ParquetFile(f).metadata.num_rows
                   for f in glob.glob(os.path.join(out, "data", "crm", e, "*.parquet"))) for e in ENTITIES}
    return rows, len(sent), watch.seconds


def run(quick: bool = False) -> list[dict]:
    from saasbridge.local.processes import start_moto_server, start_reference_api

    scale = 0.05 if quick else 0.5
    out: list[dict] = []
    with workdir("extract") as tmp, start_moto_server() as moto, \
            start_reference_api(scale=scale, rate_limit=1000) as api:
        truth = {e: len(truth_records(api.db_path, e)) for e in ENTITIES}  # type: ignore[arg-type]
        total = sum(truth.values())
        with connector_environment(api.url, moto.url, None):
            saasbridge_extract(api.url, os.path.join(tmp, "saasbridge-warm-up"))
            ours_rows, ours_requests, ours_s = saasbridge_extract(api.url, os.path.join(tmp, "saasbridge"))
        dlt_extract(api.url, os.path.join(tmp, "dlt-warm-up"))
        dlt_rows, dlt_requests, dlt_s = dlt_extract(api.url, os.path.join(tmp, "dlt"))
    ours_rate, dlt_rate = total / ours_s, total / dlt_s
    exact = ours_rows == truth
    out.append(figure(
        f"Extract every entity to Parquet ({total:,} rows): saasbridge extract vs dlt rest_api",
        round(ours_rate), "rows/s", bound=round(dlt_rate), bound_label="dlt", ratio=ours_rate / dlt_rate,
        target="> 1 (faster than dlt), all rows", passed=ours_rate > dlt_rate and exact,
        saasbridge_seconds=ours_s, dlt_seconds=dlt_s, saasbridge_rows=ours_rows, dlt_rows=dlt_rows, truth=truth,
        dlt_exact=dlt_rows == truth, timing="second run of each tool in one process (after an untimed run)",
    ))
    out.append(figure(
        "Extract every entity: API requests, saasbridge vs dlt", ours_requests, "requests", bound=dlt_requests,
        bound_label="dlt", ratio=ours_requests / dlt_requests if dlt_requests else None,
        target="≤ dlt", passed=ours_requests <= dlt_requests,
    ))
    return out


def main() -> None:
    run_from_command_line(run, __doc__, quick_help="a smaller database")


if __name__ == "__main__":
    main()
