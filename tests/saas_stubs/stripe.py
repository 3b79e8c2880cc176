"""A Stripe customers API on loopback, after Stripe's public docs: the list pages newest first
with `limit` (1–100) and `starting_after` = the last object's id until `has_more` is false, and
takes `email` and `created[gt|gte|lt|lte]` filters; the search endpoint takes `query` in the
Search Query Language (clauses `field:value`, `field>value`…, negation `-field:value`, AND or
OR but never both, no parentheses, at most 10 clauses, string values in double quotes with
`\\"` and `\\\\` escapes) and pages with `page` / `next_page`.

Comparisons are exact (case-sensitive): the stub is the ground truth the tests brute-force.
"""

from __future__ import annotations

import random
import re
from typing import Any

from saasbridge.local.httpstub import StubReply, StubRequest, reply

API_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
NAMES = ("Jenny Rosen", "Amy O'Hara", 'Dr. "Doc" Brown', "Zoë Ng", "back\\slash", "Ann", "Bob Stone")
SEARCH_FIELDS = {"email": str, "name": str, "currency": str, "created": int, "balance": int}


def make_customers(n: int, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append({
            "id": f"cus_{rng.getrandbits(48):012x}",
            "object": "customer",
            "email": f"c{i}@mail{i % 4}.test" if i % 9 else None,
            "name": rng.choice(NAMES),
            "created": 1_690_000_000 + rng.randrange(0, 40_000_000),
            "balance": rng.randrange(-5000, 5000),
            "currency": rng.choice(["usd", "eur", None]),
            "delinquent": i % 6 == 0,
        })
    out.sort(key=lambda c: (-c["created"], c["id"]))  # newest first, as Stripe lists
    return out


class Stripe:
    def __init__(self, customers: int = 230, seed: int = 3):
        self.customers = make_customers(customers, seed)

    def __call__(self, request: StubRequest) -> StubReply:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "Invalid API Key provided")
        if request.path == "/v1/customers" and request.method == "GET":
            return self._list(request)
        if request.path == "/v1/customers/search" and request.method == "GET":
            return self._search(request)
        return _error(404, f"Unrecognized request URL (GET: {request.path})")

    def _limit(self, request: StubRequest) -> int:
        limit = int(request.query.get("limit", "10"))
        if not 1 <= limit <= 100:
            raise ValueError("limit must be between 1 and 100")
        return limit

    def _list(self, request: StubRequest) -> StubReply:
        try:
            limit = self._limit(request)
        except ValueError as exc:
            return _error(400, str(exc))
        found = self.customers
        if "email" in request.query:
            found = [c for c in found if c["email"] == request.query["email"]]
        for op in ("gt", "gte", "lt", "lte"):
            key = f"created[{op}]"
            if key in request.query:
                bound = int(request.query[key])
                found = [c for c in found if _compare(c["created"], op, bound)]
        after = request.query.get("starting_after")
        if after is not None:
            index = next((i for i, c in enumerate(found) if c["id"] == after), None)
            if index is None:
                return _error(400, f"No such customer: '{after}'")
            found = found[index + 1 :]
        page = found[:limit]
        return reply({"object": "list", "url": "/v1/customers", "has_more": len(found) > limit, "data": page})

    def _search(self, request: StubRequest) -> StubReply:
        try:
            limit = self._limit(request)
            keep = parse_query(request.query.get("query", ""))
        except ValueError as exc:
            return _error(400, str(exc))
        found = [c for c in self.customers if keep(c)]
        start = int(request.query.get("page", "0") or 0)
        page = found[start : start + limit]
        more = start + limit < len(found)
        return reply({"object": "search_result", "url": "/v1/customers/search", "has_more": more,
                      "next_page": str(start + limit) if more else None, "data": page})


_TOKEN = re.compile(r'\s*(?:(?P<kw>AND|OR)(?=\s)|(?P<clause>-?[a-z_]+(?::|~|>=|<=|>|<|=)(?:"(?:[^"\\]|\\.)*"|[^\s"]+)))',
                    re.IGNORECASE)
_CLAUSE = re.compile(r'(?P<neg>-?)(?P<field>[a-z_]+)(?P<op>:|~|>=|<=|>|<|=)(?P<value>.*)\Z', re.DOTALL)


def parse_query(text: str):
    """The Search Query Language → a predicate over a customer; ValueError for what Stripe rejects."""
    if not text.strip():
        raise ValueError("query is required")
    pos, clauses, joins = 0, [], set()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos:].strip():
                raise ValueError(f"invalid query at {text[pos:pos + 20]!r}")
            break
        pos = m.end()
        if m.group("kw"):
            joins.add(m.group("kw").upper())
        else:
            clauses.append(_clause(m.group("clause")))
    if len(joins) > 1:
        raise ValueError("AND and OR cannot be combined in one query")
    if not clauses or len(clauses) > 10:
        raise ValueError("a query takes 1 to 10 clauses")
    if joins == {"OR"}:
        return lambda c: any(k(c) for k in clauses)
    return lambda c: all(k(c) for k in clauses)


def _clause(text: str):
    m = _CLAUSE.match(text)
    assert m is not None
    field, op, raw = m.group("field"), m.group("op"), m.group("value")
    if field not in SEARCH_FIELDS:
        raise ValueError(f"field {field!r} is not searchable")
    kind = SEARCH_FIELDS[field]
    if raw.startswith('"'):
        value: Any = re.sub(r"\\(.)", r"\1", raw[1:-1])
    elif kind is str:
        raise ValueError(f"the value of {field} must be quoted")
    else:
        value = int(raw)
    if op == "~" and (kind is not str or len(value) < 3):
        raise ValueError("substring search needs a string field and at least 3 characters")
    if op in ("<", ">", "<=", ">=") and kind is str:
        raise ValueError(f"{field} takes no numeric comparator")

    def matches(c: dict) -> bool:
        have = c.get(field)
        if op in (":", "="):
            hit = have == value
        elif op == "~":
            hit = isinstance(have, str) and value in have
        else:
            hit = have is not None and _compare(have, {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[op], value)
        return not hit if m.group("neg") else hit

    return matches


def _compare(have: int, op: str, bound: int) -> bool:
    return {"gt": have > bound, "gte": have >= bound, "lt": have < bound, "lte": have <= bound}[op]


def _error(status: int, message: str) -> StubReply:
    return reply({"error": {"type": "invalid_request_error", "message": message}}, status)
