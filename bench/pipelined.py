"""One split's read of a page-number API with 50 ms latency and a rate limit, with pages in flight
(issue 23), against the API bound measured in the same run, and one request at a time beside it.

A loopback page-number API (the total in `X-Total-Count`) answers after 50 ms and refuses (429)
what its own token bucket does not allow; the split is read through the reader both connectors
use, with the catalog's rate budget set to what the API enforces.

    python -m bench.pipelined [--quick]
"""

from __future__ import annotations

import math
import threading
import time

from bench.support import Stopwatch, api_bound_rows_per_s, figure, run_from_command_line
from saasbridge.catalog.model import Pagination, RateBudget
from saasbridge.client import SaasClient
from saasbridge.local.httpstub import StubReply, StubRequest, StubServer, dataset, reply, stub_catalog
from saasbridge.query.ir import Query
from saasbridge.query.reader import read

LATENCY_S = 0.05
LATENCY_MS = round(LATENCY_S * 1000)
RATE = 50.0  # requests/s the API allows (burst the same)
PAGE = 100
IN_FLIGHT = 4  # the split's pages in flight; the API bound counts this many concurrent requests


class PageNumberApi:
    """`rows` records, `per_page` a page, after `LATENCY_S`; 429 beyond `RATE` (token bucket)."""

    def __init__(self, rows: int):
        self.rows = dataset(rows)
        self.throttled = 0
        self._tokens, self._at = RATE, time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, request: StubRequest) -> StubReply:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(RATE, self._tokens + (now - self._at) * RATE)
            self._at = now
            allowed = self._tokens >= 1
            self._tokens -= allowed
            self.throttled += not allowed
        if not allowed:
            return reply({"error": "rate limited"}, status=429, Retry_After="1")
        page, size = int(request.query["page"]), int(request.query["per_page"])
        answer = reply({"data": self.rows[(page - 1) * size: page * size]}, X_Total_Count=str(len(self.rows)))
        answer.delay = LATENCY_S
        return answer


def read_split(rows: int, in_flight: int) -> dict:
    """Read the whole listing once: rows/s, requests, 429s, exactness and the bound of this run."""
    api = PageNumberApi(rows)
    with StubServer(api) as server:
        catalog = stub_catalog(
            server.url,
            pagination=Pagination(style="page_number", page_param="page", limit_param="per_page",
                                  default_page_size=PAGE, max_page_size=PAGE, total_header="X-Total-Count"),
            # one token of slack: a request in transit while the API's bucket is full loses the API
            # that refill, which the client's bucket still counts
            rate_limit=RateBudget(requests_per_second=RATE, burst=int(RATE) - 1, max_concurrency=IN_FLIGHT),
        )
        client = SaasClient(catalog)
        ids: list[str] = []
        with Stopwatch() as watch:
            for page in read(client, catalog, Query("things", ("id", "n"), None, None), in_flight=in_flight):
                ids += page.batch.column("id").to_pylist()
        bound = api_bound_rows_per_s(page_size=PAGE, rate=RATE, burst=int(RATE), concurrency=IN_FLIGHT,
                                     latency_s=LATENCY_S, seconds=watch.seconds)
        return {"rows_per_s": len(ids) / watch.seconds, "api_bound": bound, "seconds": watch.seconds,
                "requests": len(server.requests), "pages": math.ceil(rows / PAGE),
                "throttled": api.throttled + client.stats.throttled, "max_in_flight": server.max_in_flight,
                "exact": ids == [r["id"] for r in api.rows]}


def run(quick: bool = False) -> list[dict]:
    rows = 20_000 if quick else 40_000
    read_split(PAGE, 1)  # the first read of a process pays for imports and kernel set-up: not timed
    out = []
    for in_flight, target in ((IN_FLIGHT, 0.9), (1, None)):
        r = read_split(rows, in_flight)
        ratio = r["rows_per_s"] / r["api_bound"]
        clean = r["exact"] and r["requests"] == r["pages"] and r["throttled"] == 0
        out.append(figure(
            f"One split, page-number API, {LATENCY_MS} ms, {RATE:g} req/s: {in_flight} page(s) in flight "
            f"({rows:,} rows, {r['requests']} requests for {r['pages']} pages, {r['throttled']} 429s)",
            round(r["rows_per_s"]), "rows/s", bound=round(r["api_bound"]), bound_label="API bound", ratio=ratio,
            target="≥ 0.9 × bound, no extra request, no 429" if target else "(one request at a time, for comparison)",
            passed=(ratio >= target and clean) if target else None, **r,
        ))
    return out


def main() -> None:
    run_from_command_line(run, __doc__, quick_help="a smaller listing")


if __name__ == "__main__":
    main()
