"""Query passthrough: `SELECT * FROM TABLE(system.query(query => 'accounts?country=DE'))`.

The query is confined to the API's own origin: an entity name and a query string, nothing else
(no scheme, host, path or fragment). Every parameter must be a filter the catalog declares for
that entity; it becomes an IR predicate, so the API applies it and the residual re-checks it.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from athena_connector.errors import TableNotFoundError, UnsupportedPredicateError
from saasbridge.catalog.model import Catalog, Entity, Field, FieldFilter
from saasbridge.query.ir import Compare, Contains, Expr, InList, and_all

FUNCTION_NAME = "SYSTEM.QUERY"
ARGUMENT = "QUERY"
_ENTITY = re.compile(r"^[a-z][a-z0-9_]*$")


def passthrough_query(arguments: dict[str, str] | None) -> str | None:
    """The query text of a passthrough call, or None when the request is a normal table scan."""
    if not arguments:
        return None
    upper = {k.upper(): v for k, v in arguments.items()}
    name = upper.get("SCHEMAFUNCTIONNAME")
    if name is not None and name.upper() != FUNCTION_NAME:
        raise UnsupportedPredicateError(f"unknown table function {name!r}; this connector offers system.query")
    if ARGUMENT not in upper:
        raise UnsupportedPredicateError("system.query needs a query argument: system.query(query => 'accounts?country=DE')")
    return upper[ARGUMENT]


def parse_passthrough(catalog: Catalog, text: str) -> tuple[Entity, Expr | None]:
    """`entity?param=value&…` → the entity and the IR of its filters."""
    text = text.strip()
    name, _, query_string = text.partition("?")
    name = name.strip().strip("/").lower()
    if "#" in text or not _ENTITY.match(name):
        raise UnsupportedPredicateError(
            f"system.query accepts only '<entity>?<filters>' on this API, e.g. 'accounts?country=DE'; got {text!r}"
        )
    try:
        entity = catalog.entity(name)
    except Exception:
        raise TableNotFoundError(name, [e.name for e in catalog.entities]) from None
    terms: list[Expr] = []
    for key, value in parse_qsl(query_string, keep_blank_values=True, strict_parsing=False):
        terms.append(_term(entity, key, value))
    return entity, and_all(terms)


def _filters(entity: Entity) -> dict[str, tuple[Field, FieldFilter]]:
    out: dict[str, tuple[Field, FieldFilter]] = {}
    for f in entity.fields:
        for flt in f.filters:
            out[flt.param.replace("{op}", flt.op)] = (f, flt)
    return out


def _term(entity: Entity, key: str, value: str) -> Expr:
    known = _filters(entity)
    if key not in known:
        allowed = ", ".join(sorted(known)) or "(none)"
        raise UnsupportedPredicateError(f"system.query: {entity.name} has no filter parameter {key!r}; allowed: {allowed}")
    field, flt = known[key]
    if flt.op == "in":
        values = tuple(_value(field, v) for v in value.split(flt.separator) if v != "")
        return InList(field.name, values)
    if flt.op == "contains":
        return Contains(field.name, value)
    return Compare(field.name, flt.op, _value(field, value))  # type: ignore[arg-type]


def _value(field: Field, text: str) -> Any:
    kind = field.type.kind
    try:
        if kind in ("int32", "int64"):
            return int(text)
        if kind == "double":
            return float(text)
        if kind == "decimal":
            return Decimal(text)
        if kind == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if kind == "date":
            return dt.date.fromisoformat(text)
        if kind == "timestamp":
            t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            return t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC)
    except (ValueError, InvalidOperation):
        raise UnsupportedPredicateError(f"system.query: {text!r} is not a valid {kind} for {field.name}") from None
    return text
