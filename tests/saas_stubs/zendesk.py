"""A Zendesk Support ticket search on loopback, after Zendesk's public API docs and search
reference: `GET /api/v2/search/export?filter[type]=ticket&query=…` (the export endpoint: no
1,000-result cap) with cursor paging (`page[size]` ≤ 1000, `page[after]` ← `meta.after_cursor`,
`meta.has_more`; the last page keeps an `after_cursor`).

The query: terms separated by spaces, all of which must hold (no OR); `field:value` (equality),
`field<value`, `field>value` (no `<=` / `>=`), a `-` before a term negates it, values with spaces
in double quotes (no escape for a quote inside). Values match in any case. `status` and
`priority` compare in their own order (new < open < pending < hold < solved < closed; low <
normal < high < urgent), not alphabetically; dates are ISO 8601 dates or date-times (a date
with `:` is that whole day, UTC here). A negated term also keeps tickets without the field.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from typing import Any

from saasbridge.local.httpstub import StubReply, StubRequest, reply

TOKEN = "zendesk-oauth-token-9f2e"
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
TYPES = ("problem", "incident", "question", "task")
SUBJECTS = ("Printer on fire", 'The "blue" screen', "Can't log in", "Refund: order 7", "Zoë's account")
# query keyword → (ticket key, kind)
FIELDS = {"status": ("status", "status"), "priority": ("priority", "priority"), "ticket_type": ("type", "str"),
          "requester": ("requester_id", "int"), "assignee": ("assignee_id", "int"), "subject": ("subject", "text"),
          "created": ("created_at", "time"), "updated": ("updated_at", "time"), "tags": ("tags", "tags")}
_ORDER = {"status": STATUSES, "priority": PRIORITIES}


def make_tickets(n: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    out = []
    for i in range(1, n + 1):
        created = start + dt.timedelta(seconds=rng.randrange(0, 300 * 86400))
        out.append({
            "id": i, "url": f"https://acme.zendesk.com/api/v2/tickets/{i}.json", "subject": rng.choice(SUBJECTS),
            "status": rng.choice(STATUSES), "priority": rng.choice((*PRIORITIES, None)),
            "type": rng.choice((*TYPES, None)), "requester_id": rng.randrange(1, 6),
            "assignee_id": rng.choice((None, 101, 102)), "tags": sorted(rng.sample(["vip", "billing", "bug"], rng.randrange(3))),
            "created_at": _iso(created), "updated_at": _iso(created + dt.timedelta(seconds=rng.randrange(86400 * 9))),
            "result_type": "ticket",
        })
    return out


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


class Zendesk:
    def __init__(self, tickets: int = 240):
        self.tickets = make_tickets(tickets)

    def __call__(self, request: StubRequest) -> StubReply:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return reply({"error": "Couldn't authenticate you"}, 401)
        if request.path.removesuffix(".json") != "/api/v2/search/export" or request.method != "GET":
            return reply({"error": "InvalidEndpoint", "description": "Not found"}, 404)
        q = request.query
        if q.get("filter[type]") != "ticket":
            return reply({"error": "InvalidSearchFilter", "description": "filter[type] is required"}, 400)
        size = int(q.get("page[size]", "100"))
        if not 1 <= size <= 1000:
            return reply({"error": "InvalidPaginationParameter", "description": "page[size] must be 1 to 1000"}, 400)
        try:
            keep = parse_query(q.get("query", ""))
        except ValueError as exc:
            return reply({"error": "unavailable", "description": f"Invalid search: {exc}"}, 400)
        found = [t for t in self.tickets if keep(t)]
        start = int(q.get("page[after]", "0"))
        page = found[start : start + size]
        more = start + size < len(found)
        after = str(start + len(page)) if page else q.get("page[after]")  # the last page keeps a cursor
        return reply({"results": page, "facets": None,
                      "meta": {"has_more": more, "after_cursor": after, "before_cursor": str(start) if start else None},
                      "links": {"next": f"?page[after]={after}" if more else None, "prev": None}})


_TERM = re.compile(r'(-?)(\w+)(:|<|>)("[^"]*"|[^\s"]+)|(\S+)')


def parse_query(query: str):
    """A ticket search query → keep(ticket)."""
    tests = []
    for negate, name, op, raw, other in _TERM.findall(query):
        if other:
            raise ValueError(f"cannot parse {other!r}")
        value = raw[1:-1] if raw.startswith('"') else raw
        if name == "type":
            if value != "ticket":
                raise ValueError("only type:ticket here")
            continue
        if name not in FIELDS:
            raise ValueError(f"unknown property {name!r}")
        test = _term(name, op, value)
        tests.append((lambda t: lambda x: not t(x))(test) if negate else test)
    return lambda ticket: all(t(ticket) for t in tests)


def _term(name: str, op: str, value: str):
    key, kind = FIELDS[name]
    if kind == "tags":
        if op != ":":
            raise ValueError("tags take ':'")
        return lambda t: value.lower() in t["tags"]
    if kind == "text":  # words, in any case (a phrase in quotes: the words in a row)
        if op != ":":
            raise ValueError("subject takes ':'")
        words = re.findall(r"\w+", value.lower())
        return lambda t: " ".join(words) in " ".join(re.findall(r"\w+", (t[key] or "").lower()))
    if kind == "time":
        if len(value) == 10 and op == ":":
            day = _time(value)
            return lambda t: day <= _time(t[key]) < day + dt.timedelta(days=1)
        bound = _time(value)
        return _compare(op, lambda t: _time(t[key]), bound)
    if kind == "int":
        if not value.isdigit():
            raise ValueError(f"{name} takes a number")
        return _compare(op, lambda t: t[key], int(value))
    low = value.lower()
    if kind in _ORDER:
        order = _ORDER[kind]
        if low not in order:
            raise ValueError(f"{name} is one of {', '.join(order)}")
        return _compare(op, lambda t: order.index(t[key]) if t[key] is not None else None, order.index(low))
    return _compare(op, lambda t: (t[key] or "").lower() or None, low)


def _compare(op: str, get, bound):
    def keep(ticket: dict) -> bool:
        have = get(ticket)
        if have is None:
            return False
        return {":": have == bound, "<": have < bound, ">": have > bound}[op]

    return keep
