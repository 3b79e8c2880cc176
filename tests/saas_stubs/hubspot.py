"""A HubSpot CRM v3 contacts API on loopback, after HubSpot's public docs: list with `after` /
`paging.next.after`, POST search with `filterGroups` (AND in a group, OR across groups; EQ, NEQ,
LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY; 5 groups, 10 filters a
group, 25 in all), `sorts`, `properties`, `limit` ≤ 200 and a result cap (10,000 at HubSpot; set
lower here), batch read / create / update (`inputs` → `results` + `errors`, 207 when some
fail) and the properties metadata endpoint. Property values are strings, as HubSpot sends them.

The comparisons are exact (case-sensitive): the stub is the ground truth the tests brute-force.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
from decimal import Decimal, InvalidOperation
from typing import Any

from saasbridge.local.httpstub import StubReply, StubRequest, reply

TOKEN = "pat-na1-hubspot-test-token"
STAGES = ("subscriber", "lead", "customer", "other")
COLORS = ("red", "green", "blue")
DEFAULT_PROPERTIES = ("email", "firstname", "lastname", "createdate", "lastmodifieddate", "hs_object_id")
# name → HubSpot property type (string, number, datetime, enumeration, bool)
PROPERTIES = {
    "email": "string", "firstname": "string", "lastname": "string", "lifecyclestage": "enumeration",
    "num_employees": "number", "createdate": "datetime", "lastmodifieddate": "datetime",
    "hs_object_id": "number", "favorite_color": "string",
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def make_contacts(n: int, seed: int = 7) -> dict[str, dict[str, str]]:
    """id → properties: created over two years, some properties missing, names with quotes."""
    rng = random.Random(seed)
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    out: dict[str, dict[str, str]] = {}
    for i in range(1, n + 1):
        created = start + dt.timedelta(seconds=rng.randrange(0, 730 * 86400), milliseconds=rng.randrange(1000))
        props = {
            "hs_object_id": str(i),
            "email": f"user{i}@example{i % 7}.com",
            "firstname": rng.choice(["Ann", "Bob", "Cleo", "Dan", "O'Neil", 'Eve "E"', "Zoë"]),
            "lastname": f"Last{i % 13}",
            "lifecyclestage": STAGES[i % len(STAGES)],
            "createdate": _iso(created),
            "lastmodifieddate": _iso(created + dt.timedelta(days=rng.randrange(30))),
        }
        if i % 5:
            props["num_employees"] = str(rng.randrange(1, 5000))
        if i % 3 == 0:
            props["favorite_color"] = COLORS[i % len(COLORS)]
        out[str(i)] = props
    return out


class HubSpot:
    """The API's state and its request handler (`StubServer(HubSpot(...))`)."""

    def __init__(self, contacts: int = 260, *, cap: int = 10_000, seed: int = 7):
        self.contacts = make_contacts(contacts, seed)
        self.cap = cap
        self.lock = threading.Lock()
        self.ids = itertools.count(contacts + 1)
        self.rng = random.Random(seed)

    def __call__(self, request: StubRequest) -> StubReply:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return reply({"status": "error", "category": "INVALID_AUTHENTICATION", "message": "bad token"}, 401)
        path = request.path.rstrip("/")
        with self.lock:
            if path == "/crm/v3/properties/contacts" and request.method == "GET":
                return reply({"results": [{"name": n, "label": n.title(), "type": t} for n, t in PROPERTIES.items()]})
            if path == "/crm/v3/objects/contacts" and request.method == "GET":
                return self._list(request)
            if path == "/crm/v3/objects/contacts/search" and request.method == "POST":
                return self._search(request.json() or {})
            if path == "/crm/v3/objects/contacts/batch/read" and request.method == "POST":
                return self._batch_read(request.json() or {})
            if path == "/crm/v3/objects/contacts/batch/create" and request.method == "POST":
                return self._batch_create(request.json() or {})
            if path == "/crm/v3/objects/contacts/batch/update" and request.method == "POST":
                return self._batch_update(request.json() or {})
        return reply({"status": "error", "category": "OBJECT_NOT_FOUND", "message": "no such endpoint"}, 404)

    # ---- records --------------------------------------------------------------------------

    def record(self, contact_id: str, properties: list[str] | None) -> dict[str, Any]:
        props = self.contacts[contact_id]
        names = properties if properties is not None else DEFAULT_PROPERTIES
        return {
            "id": contact_id,
            "properties": {n: props.get(n) for n in names if n in PROPERTIES},
            "createdAt": props["createdate"],
            "updatedAt": props["lastmodifieddate"],
            "archived": False,
        }

    def ordered_ids(self) -> list[str]:
        return sorted(self.contacts, key=int)

    def _list(self, request: StubRequest) -> StubReply:
        limit = int(request.query.get("limit", "10"))
        if not 1 <= limit <= 100:
            return _bad("limit must be between 1 and 100")
        after = int(request.query.get("after", "0"))
        props = request.query["properties"].split(",") if "properties" in request.query else None
        ids = self.ordered_ids()
        page = ids[after : after + limit]
        body: dict[str, Any] = {"results": [self.record(i, props) for i in page]}
        if after + limit < len(ids):
            body["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
        return reply(body)

    # ---- search ---------------------------------------------------------------------------

    def _search(self, body: dict[str, Any]) -> StubReply:
        groups = body.get("filterGroups") or []
        if len(groups) > 5 or any(len(g.get("filters", [])) > 10 for g in groups):
            return _bad("too many filter groups or filters in a group")
        if sum(len(g.get("filters", [])) for g in groups) > 25:
            return _bad("too many filters")
        limit = int(body.get("limit", 10))
        if not 1 <= limit <= 200:
            return _bad("limit must be between 1 and 200")
        after = int(body.get("after") or 0)
        if after >= self.cap:
            return _bad(f"paging past {self.cap} results is not allowed")
        try:
            found = [i for i in self.ordered_ids() if not groups or any(self._group(i, g) for g in groups)]
        except (KeyError, ValueError, InvalidOperation, TypeError) as exc:
            return _bad(f"invalid filter: {exc}")
        for sort in reversed(body.get("sorts") or []):
            name, desc = sort["propertyName"], sort.get("direction") == "DESCENDING"
            found.sort(key=lambda i, n=name: _sort_key(n, self.contacts[i].get(n)), reverse=desc)
        end = min(after + limit, self.cap)
        page = found[after:end]
        out: dict[str, Any] = {"total": len(found), "results": [self.record(i, body.get("properties")) for i in page]}
        if end < len(found):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return reply(out)

    def _group(self, contact_id: str, group: dict[str, Any]) -> bool:
        return all(self._matches(self.contacts[contact_id], f) for f in group["filters"])

    def _matches(self, props: dict[str, str], f: dict[str, Any]) -> bool:
        name, op = f["propertyName"], f["operator"]
        kind = PROPERTIES[name]
        have = props.get(name)
        if op == "HAS_PROPERTY":
            return have is not None
        if op == "NOT_HAS_PROPERTY":
            return have is None
        if op in ("NEQ", "NOT_IN") and have is None:
            return True
        if have is None:
            return False
        value = _typed(kind, have)
        if op == "IN":
            return value in [_typed(kind, v) for v in f["values"]]
        if op == "NOT_IN":
            return value not in [_typed(kind, v) for v in f["values"]]
        if op == "BETWEEN":
            return _typed(kind, f["value"]) <= value <= _typed(kind, f["highValue"])
        other = _typed(kind, f["value"])
        return {"EQ": value == other, "NEQ": value != other, "LT": value < other, "LTE": value <= other,
                "GT": value > other, "GTE": value >= other}[op]

    # ---- batches --------------------------------------------------------------------------

    def _batch_read(self, body: dict[str, Any]) -> StubReply:
        results, errors = [], []
        for item in body.get("inputs", []):
            contact_id = str(item["id"])
            if contact_id in self.contacts:
                results.append(self.record(contact_id, body.get("properties")))
            else:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "message": "not found",
                               "context": {"ids": [contact_id]}})
        self.rng.shuffle(results)
        out = {"status": "COMPLETE", "results": results}
        if errors:
            out["errors"] = errors
            out["numErrors"] = len(errors)
        return reply(out, 207 if errors else 200)

    def _batch_create(self, body: dict[str, Any]) -> StubReply:
        results, errors = [], []
        for item in body.get("inputs", []):
            props, trace = item.get("properties") or {}, item.get("objectWriteTraceId")
            problem = _invalid(props)
            if problem:
                errors.append({"status": "error", "category": "VALIDATION_ERROR", "message": problem,
                               "context": {"objectWriteTraceId": [trace]}})
                continue
            contact_id = str(next(self.ids))
            now = _iso(dt.datetime.now(dt.UTC))
            self.contacts[contact_id] = {**props, "hs_object_id": contact_id, "createdate": now, "lastmodifieddate": now}
            results.append({**self.record(contact_id, list(props)), "objectWriteTraceId": trace})
        self.rng.shuffle(results)  # HubSpot does not promise input order: the trace id maps back
        return _batch_reply(results, errors)

    def _batch_update(self, body: dict[str, Any]) -> StubReply:
        results, errors = [], []
        for item in body.get("inputs", []):
            contact_id, props = str(item.get("id")), item.get("properties") or {}
            problem = "no such contact" if contact_id not in self.contacts else _invalid(props)
            if problem:
                errors.append({"status": "error", "category": "VALIDATION_ERROR", "message": problem,
                               "context": {"ids": [contact_id]}})
                continue
            self.contacts[contact_id].update(props)
            results.append(self.record(contact_id, list(props)))
        self.rng.shuffle(results)
        return _batch_reply(results, errors)


def _invalid(props: dict[str, Any]) -> str | None:
    unknown = [n for n in props if n not in PROPERTIES]
    if unknown:
        return f"Property {unknown[0]!r} does not exist"
    if "num_employees" in props and not str(props["num_employees"]).isdigit():
        return "num_employees must be a number"
    return None


def _batch_reply(results: list, errors: list) -> StubReply:
    out: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        out["errors"] = errors
        out["numErrors"] = len(errors)
    return reply(out, 207 if errors else 201)


def _typed(kind: str, text: Any) -> Any:
    """A property value (or a filter value) as HubSpot compares it."""
    if kind == "number":
        return Decimal(str(text))
    if kind == "datetime":
        s = str(text)
        if s.isdigit():
            return int(s)
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
        return (t - _EPOCH) // dt.timedelta(milliseconds=1)
    if kind == "bool":
        return str(text).lower() == "true"
    return str(text)


def _sort_key(name: str, value: str | None) -> tuple:
    return (value is None, _typed(PROPERTIES[name], value) if value is not None else 0)


def _bad(message: str) -> StubReply:
    return reply({"status": "error", "category": "VALIDATION_ERROR", "message": message}, 400)
