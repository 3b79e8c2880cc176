"""Tour section: the reference SaaS API — its entities, how many rows each has, a page of data."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from saasbridge.catalog import load_catalog
from saasbridge.errors import ApiError
from saasbridge.runtime import catalog_path

SAMPLE_FIELDS = ("name", "industry", "country", "employees")


def get_json(ctx: Any, path: str, params: dict[str, str] | None = None, *, attempts: int = 8) -> dict:
    """GET with the tour's API key; waits out 429s (Retry-After) and retries brief 5xx failures."""
    url = ctx.api_url + path + ("?" + urllib.parse.urlencode(params) if params else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ctx.api_key}"})
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code not in (429, 500, 503):
                raise ApiError(f"GET {path} answered {exc.code}", status=exc.code) from None
            time.sleep(float(exc.headers.get("Retry-After") or 1))
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    raise ApiError(f"GET {path} kept failing after {attempts} attempts")


def count_rows(ctx: Any, path: str) -> tuple[int, int]:
    """(rows, requests): pages through the listing at `path`, fetching ids only."""
    rows = requests = 0
    cursor = None
    while True:
        params = {"limit": "1000", "fields": "id", **({"cursor": cursor} if cursor else {})}
        page = get_json(ctx, path, params)
        rows += len(page["data"])
        requests += 1
        cursor = page["next_cursor"]
        if not cursor:
            return rows, requests


def run(ctx: Any) -> None:
    ctx.heading("The reference SaaS API")
    ctx.say(f"A stand-in for a SaaS provider's REST API on {ctx.api_url} (tenant {ctx.tenant}).")
    ctx.say(f"Every request carries `Authorization: Bearer {ctx.api_key}`; its OpenAPI is {ctx.api_url}/openapi.json.")
    openapi = get_json(ctx, "/openapi.json")
    counts = []
    for entity in load_catalog(catalog_path()).entities:  # the entities SHOW TABLES lists
        rows, requests = count_rows(ctx, entity.path)
        filters = [p["name"] for p in openapi["paths"][entity.path]["get"]["parameters"]
                   if p["name"] not in ("limit", "cursor", "sort", "fields", "ids")]
        counts.append((entity.name, f"{rows:,}", requests, ", ".join(filters)))
    ctx.table(("entity", "rows", "requests to count", "filters the API applies"), counts, title="Entities")
    page = get_json(ctx, "/v1/accounts", {"limit": "5", "fields": ",".join(SAMPLE_FIELDS), "country": "DE"})
    ctx.table(
        ("id", *SAMPLE_FIELDS),
        [[r["id"], *(r[f] for f in SAMPLE_FIELDS)] for r in page["data"]],
        title="GET /v1/accounts?country=DE&limit=5&fields=…",
    )
    ctx.say("Pagination is keyset-based: each page's next_cursor continues exactly where it stopped.")
