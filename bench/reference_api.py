"""The reference API's own serving speed: rows/s it serves walking a whole listing, per page size.

The API stands in for a production SaaS API, so it must not be the ceiling of the connector's
benchmarks: their tightest API bound is 20,000 rows/s for one cursor (1,000-row pages at 50 ms
latency), hence the target of ≤ 25 ms per 1,000-row page (40,000 rows/s). Two ways, no latency,
no rate limit:

- in process: the ASGI app called directly (no sockets), the process CPU time per page;
- over HTTP: uvicorn in its own process, a keep-alive urllib3 client reading the bodies
  (not parsing them), wall time per page and the server process's CPU time per page.

    python -m bench.reference_api [--quick]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any
from urllib.parse import urlencode

import orjson

from bench.support import API_KEY, figure, run_from_command_line, workdir

TARGET_MS_PER_1000 = 25.0
# (entity, page size): the wide append-only log, and accounts with nested address and tags.
CASES = (("events", 1000), ("events", 100), ("accounts", 1000), ("accounts", 100))
ROUNDS = 3


def _target_rows_per_s() -> float:
    return 1000 / (TARGET_MS_PER_1000 / 1000)


class InProcessClient:
    """Calls the ASGI app like uvicorn would, one request at a time."""

    def __init__(self, app: Any):
        self.app = app
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        self.loop.close()

    def get(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        return self.loop.run_until_complete(self._get(path, urlencode(query).encode()))

    async def _get(self, path: str, query: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
            "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {API_KEY}".encode())],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        }
        status = 0
        body: list[bytes] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(body)


class HttpClient:
    """A keep-alive urllib3 connection pool to the served API."""

    def __init__(self, url: str):
        import urllib3

        self.url = url
        self.http = urllib3.PoolManager(maxsize=1)

    def close(self) -> None:
        self.http.clear()

    def get(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        response = self.http.request("GET", f"{self.url}{path}", fields=query,
                                     headers={"Authorization": f"Bearer {API_KEY}"})
        return response.status, response.data


def walk(client: Any, entity: str, page_size: int) -> tuple[int, int]:
    """Page through the whole listing; (rows, pages)."""
    rows = pages = 0
    cursor: str | None = None
    while True:
        query = {"limit": str(page_size), **({"cursor": cursor} if cursor else {})}
        status, body = client.get(f"/v1/{entity}", query)
        if status != 200:
            raise RuntimeError(f"the reference API answered {status} during the walk: {body[:200]!r}")
        # The cursor sits at the end of the body; parsing the whole page would time the client.
        tail = body[body.rindex(b'"next_cursor"'):]
        cursor = orjson.loads(b"{" + tail)["next_cursor"]
        rows += body.count(b'{"id":')  # every record opens with its id
        pages += 1
        if not cursor:
            return rows, pages


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_walks(client: Any, entity: str, page_size: int, *, min_pages: int, server_pid: int | None = None) -> dict:
    """Medians over rounds (after one warm-up walk) of wall and CPU time per page and rows/s; a
    round repeats the walk until it has served `min_pages` pages (a small listing is few pages)."""
    walk(client, entity, page_size)
    rounds = []
    for _ in range(ROUNDS):
        cpu0 = _process_cpu_seconds(server_pid) if server_pid else time.process_time()
        wall0 = time.perf_counter()
        rows = pages = 0
        while pages < min_pages:
            walk_rows, walk_pages = walk(client, entity, page_size)
            rows, pages = rows + walk_rows, pages + walk_pages
        wall = time.perf_counter() - wall0
        cpu = (_process_cpu_seconds(server_pid) if server_pid else time.process_time()) - cpu0
        rounds.append((wall, cpu, rows, pages))
    return {
        "rows_per_page": round(rows / pages, 1),
        "wall_ms_per_page": round(statistics.median(w / p * 1000 for w, _, _, p in rounds), 2),
        "cpu_ms_per_page": round(statistics.median(c / p * 1000 for _, c, _, p in rounds), 2),
        "wall_rows_per_s": round(statistics.median(r / w for w, _, r, _ in rounds)),
        "cpu_rows_per_s": round(statistics.median(r / c if c > 0 else float("inf") for _, c, r, _ in rounds)),
    }


def _row(entity: str, page_size: int, mode: str, t: dict, clock: str) -> dict:
    """One figure: rows/s against the target, judged for 1,000-row pages only."""
    ms, rows_per_s = t[f"{clock}_ms_per_page"], t[f"{clock}_rows_per_s"]
    target = _target_rows_per_s()
    judged = page_size == 1000  # the target is per 1,000-row page; smaller pages are informational
    return figure(
        f"Reference API serving {entity}, pages of {page_size:,} ({mode}; {ms:.1f} ms/page)",
        rows_per_s, "rows/s", bound=round(target), bound_label=f"target: {TARGET_MS_PER_1000:g} ms per 1,000 rows",
        ratio=rows_per_s / target, target="≥ bound" if judged else "(informational)",
        passed=rows_per_s >= target if judged else None, entity=entity, page_size=page_size, mode=mode, **t,
    )


def run(quick: bool = False) -> list[dict]:
    from demo_saas.app import Behaviour, create_app
    from demo_saas.store import Store
    from saasbridge.local.processes import start_reference_api

    scale = 0.5 if quick else 1.0  # accounts: one or two full 1,000-row pages
    min_pages = 10 if quick else 40
    out: list[dict] = []
    with workdir("reference-api") as tmp:
        db = os.path.join(tmp, "ref.sqlite")
        store = Store.open(db, seed=42, scale=scale)
        client = InProcessClient(create_app(store, Behaviour(seed=42, rate_limit=0)))
        try:
            for entity, page_size in CASES:
                out.append(_row(entity, page_size, "in process, CPU",
                                time_walks(client, entity, page_size, min_pages=min_pages), "cpu"))
        finally:
            client.close()
            store.close()
        with start_reference_api(scale=scale, rate_limit=0, db_path=db) as api:
            http = HttpClient(api.url)
            try:
                for entity, page_size in CASES:
                    t = time_walks(http, entity, page_size, min_pages=min_pages, server_pid=api.process.pid)
                    out.append(_row(entity, page_size, "HTTP keep-alive, wall", t, "wall"))
            finally:
                http.close()
    return out


def main() -> None:
    run_from_command_line(run, __doc__, quick_help="a smaller database")


if __name__ == "__main__":
    main()
