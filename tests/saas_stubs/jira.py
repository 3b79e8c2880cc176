"""A Jira Cloud issue search on loopback, after Atlassian's public REST v3 docs:
`POST /rest/api/3/search/jql` with `{"jql", "fields", "maxResults", "nextPageToken"}` answering
`{"issues", "nextPageToken", "isLast"}`. JQL: `field op value` (=, !=, <, <=, >, >=), `IN (…)`,
`NOT IN (…)`, `IS [NOT] EMPTY`, AND / OR / NOT with parentheses, strings in double quotes with
backslash escapes, `ORDER BY field [ASC|DESC]`. A comparison with an empty field is false (so
`!=` leaves empty fields out, as Jira does).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from decimal import Decimal
from typing import Any

from saasbridge.local.httpstub import StubReply, StubRequest, reply

TOKEN = "jira-api-token-3c1d"
STATUSES = ("To Do", "In Progress", "Done", 'Won\'t "Do"')
PRIORITIES = ("Highest", "High", "Medium", "Low", None)
# JQL field → (issue path, kind)
FIELDS = {"key": ("key", "key"), "status": ("fields.status.name", "str"), "priority": ("fields.priority.name", "str"),
          "cf[10016]": ("fields.customfield_10016", "num"), "created": ("fields.created", "time"),
          "project": ("fields.project.key", "str")}


def make_issues(n: int, seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    out = []
    for i in range(1, n + 1):
        created = start + dt.timedelta(minutes=rng.randrange(0, 400 * 24 * 60))
        priority = rng.choice(PRIORITIES)
        points = rng.choice([None, 1, 2, 3, 5, 8, 13])
        out.append({"id": str(10000 + i), "key": f"OPS-{i}", "fields": {
            "summary": f"Issue {i}", "status": {"name": rng.choice(STATUSES)},
            "priority": {"name": priority} if priority else None,
            "customfield_10016": points, "project": {"key": "OPS"},
            "created": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000")}})
    return out


class Jira:
    def __init__(self, issues: int = 180):
        self.issues = make_issues(issues)

    def __call__(self, request: StubRequest) -> StubReply:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return reply({"errorMessages": ["Unauthorized"]}, 401)
        if request.path != "/rest/api/3/search/jql" or request.method != "POST":
            return reply({"errorMessages": ["not found"]}, 404)
        body = request.json() or {}
        limit = int(body.get("maxResults", 50))
        if not 1 <= limit <= 100:
            return reply({"errorMessages": ["maxResults must be 1 to 100"]}, 400)
        try:
            keep, order = parse_jql(body.get("jql", ""))
        except ValueError as exc:
            return reply({"errorMessages": [str(exc)]}, 400)
        found = [i for i in self.issues if keep(i)]
        if order is not None:
            name, desc = order
            found.sort(key=lambda i: (_value(i, name) is None, _value(i, name) or 0), reverse=desc)
        start = int(body.get("nextPageToken") or 0)
        page = found[start : start + limit]
        last = start + limit >= len(found)
        out: dict[str, Any] = {"issues": page, "isLast": last}
        if not last:
            out["nextPageToken"] = str(start + limit)
        return reply(out)


def _value(issue: dict, field: str) -> Any:
    path, kind = FIELDS[field]
    value: Any = issue
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return None
    if kind == "num":
        return Decimal(str(value))
    if kind == "time":
        return dt.datetime.fromisoformat(value)
    return value


_TOKENS = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>!=|>=|<=|=|>|<|\(|\)|,)|(?P<word>[A-Za-z0-9_\[\]\-.:]+))')


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKENS.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"JQL syntax error at {text[pos:pos + 15]!r}")
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))  # type: ignore[arg-type]
    return out


def parse_jql(text: str):
    """JQL → (predicate over an issue, (order field, descending) or None); ValueError if invalid."""
    tokens = _tokens(text)
    pos = 0

    def peek(word: str | None = None) -> bool:
        if pos >= len(tokens):
            return False
        return word is None or tokens[pos][1].upper() == word

    def take(word: str | None = None) -> str:
        nonlocal pos
        if pos >= len(tokens) or (word is not None and tokens[pos][1].upper() != word):
            raise ValueError(f"JQL: expected {word or 'more'}")
        pos += 1
        return tokens[pos - 1][1]

    def value_of(kind: str, token: str) -> Any:
        if token.startswith('"'):
            token = re.sub(r"\\(.)", r"\1", token[1:-1])
        if kind == "num":
            return Decimal(token)
        if kind == "time":
            return dt.datetime.fromisoformat(token).replace(tzinfo=dt.UTC) if len(token) == 10 else \
                dt.datetime.strptime(token, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC)
        return token

    def clause():
        field = take()
        if field not in FIELDS:
            raise ValueError(f"JQL: field {field!r} does not exist")
        kind = FIELDS[field][1]
        if peek("IS"):
            take("IS")
            negate = peek("NOT") and bool(take("NOT"))
            take("EMPTY")
            return lambda i: (_value(i, field) is None) != negate
        negate = peek("NOT") and bool(take("NOT"))
        if peek("IN"):
            take("IN")
            take("(")
            values = [value_of(kind, take())]
            while peek(","):
                take(",")
                values.append(value_of(kind, take()))
            take(")")
            return lambda i: (v := _value(i, field)) is not None and ((v in values) != negate)
        if negate:
            raise ValueError("JQL: NOT must be followed by IN")
        op = take()
        if op not in ("=", "!=", "<", "<=", ">", ">="):
            raise ValueError(f"JQL: unknown operator {op!r}")
        value = value_of(kind, take())
        compare = {"=": lambda a: a == value, "!=": lambda a: a != value, "<": lambda a: a < value,
                   "<=": lambda a: a <= value, ">": lambda a: a > value, ">=": lambda a: a >= value}[op]
        return lambda i: (v := _value(i, field)) is not None and compare(v)

    def unary():
        if peek("NOT"):
            take("NOT")
            inner = unary()
            return lambda i: not inner(i)
        if peek("("):
            take("(")
            inner = disjunction()
            take(")")
            return inner
        return clause()

    def conjunction():
        parts = [unary()]
        while peek("AND"):
            take("AND")
            parts.append(unary())
        return lambda i: all(p(i) for p in parts)

    def disjunction():
        parts = [conjunction()]
        while peek("OR"):
            take("OR")
            parts.append(conjunction())
        return lambda i: any(p(i) for p in parts)

    keep = disjunction() if tokens and not peek("ORDER") else (lambda i: True)
    order = None
    if peek("ORDER"):
        take("ORDER")
        take("BY")
        field = take()
        desc = peek("DESC")
        if peek("DESC") or peek("ASC"):
            take()
        order = (field, desc)
    if pos != len(tokens):
        raise ValueError(f"JQL: unexpected {tokens[pos][1]!r}")
    return keep, order
