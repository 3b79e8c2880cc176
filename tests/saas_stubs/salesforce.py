"""A Salesforce REST query endpoint on loopback, after Salesforce's public SOQL and REST API docs:
`GET /services/data/v60.0/query?q=SELECT … FROM Account [WHERE …] [ORDER BY …]` answering
`{totalSize, done, records, nextRecordsUrl}` in batches (2,000 at Salesforce; smaller here),
the rest at `nextRecordsUrl`.

SOQL here: `=`, `!=`, `<`, `<=`, `>`, `>=`, `IN (…)`, `NOT IN (…)`, `= null`, `!= null`, AND, OR,
NOT, parentheses; strings in single quotes with backslash escapes (\\' \\" \\\\ \\n \\t), numbers,
`TRUE`/`FALSE`, date-times unquoted (`2024-05-01T00:00:00Z`). Strings compare in any case, as
Salesforce's do; a comparison with an empty field is false, except `!=`, which keeps it;
ORDER BY puts empty fields first ascending (NULLS FIRST), as SOQL does by default.

Hand-written: no SQL parser takes SOQL's unquoted date-time literals.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from decimal import Decimal
from typing import Any

from saasbridge.local.httpstub import StubReply, StubRequest, reply

TOKEN = "00Dxx0000001gPL!salesforce-session"
PATH = "/services/data/v60.0/query"
NAMES = ("Acme", "ACME", "acme", "O'Hara & Sons", 'The "Best" Co', "back\\slash", "Globex", "Zoë GmbH", "Initech")
INDUSTRIES = ("Energy", "Media", "Banking", None)
FIELDS = ("Id", "Name", "Industry", "AnnualRevenue", "NumberOfEmployees", "CreatedDate")


def make_accounts(n: int, seed: int = 17) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    out = []
    for i in range(1, n + 1):
        created = start + dt.timedelta(seconds=rng.randrange(0, 700 * 86400))
        out.append({
            "attributes": {"type": "Account", "url": f"/services/data/v60.0/sobjects/Account/001{i:015d}"},
            "Id": f"001{i:015d}", "Name": rng.choice(NAMES), "Industry": rng.choice(INDUSTRIES),
            "AnnualRevenue": rng.choice([None, float(rng.randrange(0, 5_000_000, 1000))]),
            "NumberOfEmployees": rng.choice([None, rng.randrange(1, 2000)]),
            "CreatedDate": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        })
    return out


class Salesforce:
    def __init__(self, accounts: int = 300, *, batch: int = 100):
        self.accounts = make_accounts(accounts)
        self.batch = batch
        self.cursors: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, request: StubRequest) -> StubReply:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return reply([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401)
        if request.path.startswith(f"{PATH}/"):  # the rest of a query: {query id}-{offset}
            qid, _, offset = request.path.rsplit("/", 1)[1].partition("-")
            if qid in self.cursors and offset.isdigit():
                return self._page(qid, int(offset))
        if request.path != PATH:
            return reply([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}], 404)
        try:
            fields, keep, order = parse_soql(request.query.get("q", ""))
        except ValueError as exc:
            return reply([{"message": str(exc), "errorCode": "MALFORMED_QUERY"}], 400)
        found = [a for a in self.accounts if keep(a)]
        for name, desc in reversed(order):
            found.sort(key=lambda a, n=name: (a[n] is not None, _key(n, a[n])), reverse=desc)
        qid = f"01gD0000002HU{len(self.cursors):05d}"
        self.cursors[qid] = [{"attributes": a["attributes"], **{f: a[f] for f in fields}} for a in found]
        return self._page(qid, 0)

    def _page(self, qid: str, offset: int) -> StubReply:
        rows = self.cursors[qid]
        end = offset + self.batch
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows), "records": rows[offset:end]}
        if end < len(rows):
            body["nextRecordsUrl"] = f"{PATH}/{qid}-{end}"
        return reply(body)


def _key(field: str, value: Any) -> Any:
    if value is None:
        return 0
    if field == "CreatedDate":
        return _time(value)
    return value.lower() if isinstance(value, str) else value


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text.replace("Z", "+00:00")))


# ------------------------------------------------------------------ SOQL

_TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<time>\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d))
    |(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))""", re.X)
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def _tokens(text: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected {text[pos:pos + 10]!r}")
        kind = m.lastgroup
        raw = m.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", lambda e: _escape(e.group(1)), raw[1:-1])
        elif kind == "num":
            value = Decimal(raw)
        elif kind == "time":
            value = _time(raw)
        else:
            value = raw
        out.append((kind, value))
        pos = m.end()
    return out


def _escape(ch: str) -> str:
    if ch not in _ESCAPES:
        raise ValueError(f"invalid escape \\{ch}")
    return _ESCAPES[ch]


def parse_soql(text: str):
    """`SELECT f, … FROM Account [WHERE …] [ORDER BY f [ASC|DESC], …]` → (fields, keep, order)."""
    toks = _tokens(text)
    p = _Parser(toks)
    p.word("SELECT")
    fields = [p.field()]
    while p.peek() == ("punct", ","):
        p.next()
        fields.append(p.field())
    p.word("FROM")
    if p.next() != ("word", "Account"):
        raise ValueError("only FROM Account here")
    keep = _everything
    if p.is_word("WHERE"):
        p.next()
        keep = p.disjunction()
    order = []
    if p.is_word("ORDER"):
        p.next()
        p.word("BY")
        while True:
            name = p.field()
            desc = p.is_word("DESC")
            if desc or p.is_word("ASC"):
                p.next()
            order.append((name, desc))
            if p.peek() != ("punct", ","):
                break
            p.next()
    if p.peek() is not None:
        raise ValueError(f"unexpected {p.peek()[1]!r}")
    return fields, keep, order


def _everything(account: dict[str, Any]) -> bool:
    return True


class _Parser:
    def __init__(self, toks: list[tuple[str, Any]]):
        self.toks, self.i = toks, 0

    def peek(self) -> tuple[str, Any] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None:
            raise ValueError("the query ends too soon")
        self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].upper() == word

    def word(self, word: str) -> None:
        if not self.is_word(word):
            raise ValueError(f"expected {word}")
        self.next()

    def field(self) -> str:
        kind, name = self.next()
        if kind != "word" or name not in FIELDS:
            raise ValueError(f"No such column '{name}' on entity 'Account'")
        return name

    def disjunction(self):
        items = [self.conjunction()]
        while self.is_word("OR"):
            self.next()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else (lambda a: any(t(a) for t in items))

    def conjunction(self):
        items = [self.negation()]
        while self.is_word("AND"):
            self.next()
            items.append(self.negation())
        return items[0] if len(items) == 1 else (lambda a: all(t(a) for t in items))

    def negation(self):
        if self.is_word("NOT"):
            self.next()
            inner = self.negation()
            return lambda a: not inner(a)
        if self.peek() == ("punct", "("):
            self.next()
            inner = self.disjunction()
            if self.next() != ("punct", ")"):
                raise ValueError("expected )")
            return inner
        return self.comparison()

    def comparison(self):
        name = self.field()
        negate = False
        if self.is_word("NOT"):
            self.next()
            negate = True
        if self.is_word("IN"):
            self.next()
            values = self.values()
            return lambda a: (_in(a[name], values) != negate) if a[name] is not None else negate
        if negate:
            raise ValueError("NOT must come before a comparison or before IN")
        kind, op = self.next()
        if kind != "op":
            raise ValueError(f"expected an operator after {name}")
        value = self.value()
        if value is None:
            if op not in ("=", "!=", "<>"):
                raise ValueError("null only with = or !=")
            return (lambda a: a[name] is None) if op == "=" else (lambda a: a[name] is not None)
        return lambda a: _compare(a[name], op, value)

    def values(self) -> list[Any]:
        if self.next() != ("punct", "("):
            raise ValueError("expected ( after IN")
        out = [self.value()]
        while self.peek() == ("punct", ","):
            self.next()
            out.append(self.value())
        if self.next() != ("punct", ")"):
            raise ValueError("expected ) after the IN list")
        return out

    def value(self) -> Any:
        kind, value = self.next()
        if kind == "word":
            upper = value.upper()
            if upper in ("NULL", "TRUE", "FALSE"):
                return {"NULL": None, "TRUE": True, "FALSE": False}[upper]
            raise ValueError(f"unexpected {value!r}: strings take single quotes")
        if kind not in ("str", "num", "time"):
            raise ValueError(f"expected a value, not {value!r}")
        return value


def _comparable(have: Any, value: Any) -> tuple[Any, Any]:
    if isinstance(value, str):
        return str(have).lower(), value.lower()
    if isinstance(value, dt.datetime):
        return _time(have), value
    return Decimal(str(have)), value


def _compare(have: Any, op: str, value: Any) -> bool:
    if have is None:
        return op in ("!=", "<>")
    a, b = _comparable(have, value)
    return {"=": a == b, "!=": a != b, "<>": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _in(have: Any, values: list[Any]) -> bool:
    return any(_compare(have, "=", v) for v in values if v is not None)
