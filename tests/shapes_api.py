"""A small "helpdesk" API on loopback that behaves like SaaS APIs the reference API does not
imitate (issue 13): notes listed per account (`/accounts/{account_id}/notes`), page-number or
offset paging with the total only in a header, repeated-key list parameters, sort direction as
its own parameter, a required API-version parameter, and a page size ignored without a page.

Its data is fixed and known, so tests compare the connectors' rows with it exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from saasbridge.local.httpstub import StubReply, StubRequest, reply

STATUSES = ("open", "pending", "closed")
NOTE_COUNTS = (0, 3, 5, 6, 11, 1, 10)  # notes of acc_1 … acc_7: empty, short, exactly one page, …
ACCOUNTS = [{"id": f"acc_{i}", "name": f"Account {i}"} for i in range(1, len(NOTE_COUNTS) + 1)]
NOTES = {
    a["id"]: [
        {"id": f"n_{i}_{j:02d}", "body": f"note {j} of {a['id']}", "status": STATUSES[(i + j) % 3],
         "created_at": f"2024-0{1 + j % 9}-{10 + i:02d}T00:00:00Z"}
        for j in range(count)
    ]
    for i, (a, count) in enumerate(zip(ACCOUNTS, NOTE_COUNTS, strict=True), start=1)
}
NOTES_PATH = re.compile(r"/accounts/([^/]+)/notes\Z")
API_KEY = "helpdesk-key-7f3a"


@dataclass
class Behaviour:
    """How the helpdesk API pages and what it demands."""

    paging: str = "page_number"  # page_number (page, per_page) | offset (offset, limit)
    total: str | None = "x-total-count"  # x-total-count | content-range | has-more | None
    default_page_size: int = 5
    required: dict[str, str] = field(default_factory=dict)  # query parameters the API insists on
    token_ok: object = None  # callable(token) -> bool for bearer auth; None = the X-Api-Key header


def all_notes() -> list[dict]:
    """Every note as the connectors should return it: with its account id."""
    return [{**n, "account_id": acc} for acc, notes in NOTES.items() for n in notes]


def handler(behaviour: Behaviour, notes: dict[str, list[dict]] | None = None):
    """The API's request handler; `notes` (account id → its notes) replaces the fixed data."""
    notes = NOTES if notes is None else notes
    accounts = ACCOUNTS if notes is NOTES else [{"id": a, "name": a} for a in notes]

    def handle(request: StubRequest) -> StubReply:
        if not _authorised(request, behaviour):
            return reply({"error": "unauthorized"}, status=401)
        for name, value in behaviour.required.items():
            if request.values(name) != [value]:
                return reply({"error": f"{name}={value} is required"}, status=400)
        if request.path == "/accounts":
            rows = list(accounts)
        elif (m := NOTES_PATH.match(request.path)) and unquote(m.group(1)) in notes:
            rows = list(notes[unquote(m.group(1))])
        else:
            return reply({"error": "not found"}, status=404)
        if statuses := request.values("status"):
            rows = [r for r in rows if r.get("status") in statuses]  # a joined "a,b" matches nothing
        if key := request.query.get("sort_by"):
            rows.sort(key=lambda r: r.get(key) or "", reverse=request.query.get("order") == "desc")
        rows, headers = _page(request, behaviour, rows)
        if fields := request.values("fields"):
            rows = [{k: v for k, v in r.items() if k in fields} for r in rows]
        return reply(rows, **headers)

    return handle


def _authorised(request: StubRequest, behaviour: Behaviour) -> bool:
    if behaviour.token_ok is None:
        return request.headers.get("x-api-key") == API_KEY
    auth = request.headers.get("authorization", "")
    return auth.startswith("Bearer ") and bool(behaviour.token_ok(auth[7:]))  # type: ignore[operator]


def _page(request: StubRequest, b: Behaviour, rows: list[dict]) -> tuple[list[dict], dict[str, str]]:
    total = len(rows)
    if b.paging == "page_number":
        if "page" not in request.query:
            return rows, {}  # like some APIs: the page size counts only with a page number
        size = int(request.query.get("per_page", b.default_page_size))
        start = (int(request.query["page"]) - 1) * size
    else:
        size = int(request.query.get("limit", b.default_page_size))
        start = int(request.query.get("offset", 0))
    chunk = rows[start : start + size]
    if b.total == "x-total-count":
        return chunk, {"X_Total_Count": str(total)}
    if b.total == "content-range":
        last = start + len(chunk) - 1
        return chunk, {"Content_Range": f"items {start}-{last}/{total}" if chunk else f"items */{total}"}
    if b.total == "has-more":
        return chunk, {"X_Has_More": "true" if start + len(chunk) < total else "false"}
    return chunk, {}


def catalog_yaml(*, pagination: str, notes_extra: str = "", top_extra: str = "", parent: bool = True,
                 auth: str = '{type: api_key, header: X-Api-Key, prefix: ""}', status_filter: str = "",
                 notes_sort: str = "") -> str:
    """The helpdesk catalog; the parts each shape varies are parameters."""
    return f"""\
name: helpdesk
base_url: ${{SAASBRIDGE_API_URL}}
auth: {auth}
pagination: {pagination}
records_path: ""
retry: {{max_attempts: 3, base_delay: 0.01, max_delay: 0.05}}
rate_limit: {{requests_per_second: 1000, burst: 1000, max_concurrency: 4}}
{top_extra}
entities:
  - name: accounts
    path: /accounts
    fields:
      - {{name: id, type: string, nullable: false}}
      - {{name: name, type: string}}
  - name: notes
    path: /accounts/{{account_id}}/notes
{"    parent: {entity: accounts}" if parent else ""}
{notes_extra}
{notes_sort}
    fields:
      - {{name: id, type: string, nullable: false}}
      - {{name: account_id, type: string, nullable: false}}
      - {{name: body, type: string}}
      - {{name: status, type: string{status_filter}}}
      - {{name: created_at, type: timestamp, nullable: false}}
"""
