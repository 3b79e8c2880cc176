"""Query-string parsing for list requests, and the opaque keyset cursor. Anything wrong → BadRequest."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

from demo_saas.entities import EntitySpec
from demo_saas.records import parse_ts
from demo_saas.store import ListQuery

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_IDS = 100


class BadRequest(Exception):
    """A client error: answered with 400 and this message."""


def encode_cursor(sort: str, key: tuple) -> str:
    raw = json.dumps({"s": sort, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, spec: EntitySpec) -> tuple[str, tuple]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        obj = json.loads(raw)
        sort, key = obj["s"], obj["k"]
    except (ValueError, TypeError, KeyError) as exc:
        raise BadRequest("invalid cursor; pass the next_cursor of the previous page unchanged") from exc
    if sort not in spec.sorts or not isinstance(key, list) or not _valid_key(sort, key):
        raise BadRequest("invalid cursor; pass the next_cursor of the previous page unchanged")
    return sort, tuple(key)


def _valid_key(sort: str, key: list) -> bool:
    if sort == "id":
        return len(key) == 1 and isinstance(key[0], str)
    return (
        len(key) == 2 and isinstance(key[0], int) and not isinstance(key[0], bool) and isinstance(key[1], str)
    )


def allowed_params(spec: EntitySpec) -> tuple[str, ...]:
    return ("limit", "cursor", "sort", "fields", "ids", *spec.time_params, *spec.equality_filters)


def parse_list_query(spec: EntitySpec, tenant: str, items: Sequence[tuple[str, str]]) -> ListQuery:
    """Validate the query string of `GET /v1/{entity}`; raise BadRequest naming the bad parameter."""
    allowed = allowed_params(spec)
    params: dict[str, str] = {}
    for name, value in items:
        if name not in allowed:
            raise BadRequest(f"unknown parameter {name!r} for {spec.name}; allowed: {', '.join(allowed)}")
        if name in params:
            raise BadRequest(f"parameter {name!r} given more than once")
        params[name] = value

    q = ListQuery(entity=spec, tenant=tenant)
    if "limit" in params:
        try:
            q.limit = int(params["limit"])
        except ValueError:
            q.limit = 0
        if not 1 <= q.limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}, got {params['limit']!r}")
    if "sort" in params:
        if params["sort"] not in spec.sorts:
            raise BadRequest(f"sort must be one of {', '.join(spec.sorts)}, got {params['sort']!r}")
        q.sort = params["sort"]
    if "cursor" in params:
        sort, q.after = decode_cursor(params["cursor"], spec)
        if "sort" in params and sort != q.sort:
            raise BadRequest(f"this cursor belongs to sort={sort}; repeat the first page's sort or omit it")
        q.sort = sort
    since_name, until_name = spec.time_params
    for name in (since_name, until_name):
        if name in params:
            try:
                ms = parse_ts(params[name])
            except (ValueError, OverflowError):
                raise BadRequest(f"{name} must be an ISO-8601 date-time, got {params[name]!r}") from None
            if name == since_name:
                q.since = ms
            else:
                q.until = ms
    if "ids" in params:
        ids = [i.strip() for i in params["ids"].split(",") if i.strip()]
        if not ids:
            raise BadRequest("ids must be a comma-separated list of ids")
        if len(ids) > MAX_IDS:
            raise BadRequest(f"ids takes at most {MAX_IDS} ids, got {len(ids)}")
        q.ids = ids
    for name in spec.equality_filters:
        if name in params:
            q.equals[name] = _equality_value(spec, name, params[name])
    if "fields" in params:
        names = [n.strip() for n in params["fields"].split(",") if n.strip()]
        unknown = [n for n in names if spec.get_field(n) is None]
        if unknown or not names:
            raise BadRequest(
                f"fields: unknown field {', '.join(map(repr, unknown)) or '(empty)'} for {spec.name}; "
                f"available: {', '.join(spec.field_names)}"
            )
        q.fields = tuple(dict.fromkeys(["id", *names]))
    return q


def _equality_value(spec: EntitySpec, name: str, text: str) -> object:
    f = spec.get_field(name)
    if f is not None and f.kind == "boolean":
        if text not in ("true", "false"):
            raise BadRequest(f"{name} must be true or false, got {text!r}")
        return int(text == "true")
    return text
