"""The planner's search branch: a read through the entity's search endpoint, its WHERE compiled
into a JSON body or a query-language string, with sort, projection and paging, and the
result cap's time windows."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from saasbridge.catalog.model import Catalog, Entity, Field
from saasbridge.catalog.search import Search
from saasbridge.catalog.templates import fill, fill_text, set_path
from saasbridge.catalog.types import is_numeric, is_scalar
from saasbridge.client.endpoint import Endpoint
from saasbridge.errors import QueryError
from saasbridge.query.bounds import Rounding, render
from saasbridge.query.ir import Compare, Expr, Query, and_all, conjuncts
from saasbridge.query.projection import projection
from saasbridge.query.pushdown import Pushdown, Pushed, Renderer, conjoin
from saasbridge.query.query_language import available_ops, fit_query, quote_value, render_query
from saasbridge.query.search_body import fit_body, render_body

_DEFAULT_FORMAT = {"timestamp": "iso8601_ms", "date": "date", "boolean": "bool_lower"}
_UNIT = {"iso8601": dt.timedelta(seconds=1), "epoch_s": dt.timedelta(seconds=1), "date": dt.timedelta(days=1)}


@dataclass(frozen=True)
class Cap:
    """A search's result cap: a read whose total passes `max_results` is cut into windows of
    `field` (half-open [lo, hi), None = open) no finer than `unit`."""

    field: str
    max_results: int
    start: dt.datetime
    unit: dt.timedelta
    window: tuple[dt.datetime | None, dt.datetime | None] = (None, None)


@dataclass
class SearchPlan:
    endpoint: Endpoint
    params: dict[str, str]
    pushed: list[str]
    ordered: bool
    cap: Cap | None


def value_format(search: Search, f: Field) -> str:
    declared = dict(search.formats).get(f.type.kind)
    if declared:
        return declared
    if is_numeric(f.type):
        return "number"
    return _DEFAULT_FORMAT.get(f.type.kind, "string")


def _renderer(search: Search) -> Renderer:
    """How the search writes a value: text in its format (JSON numbers and booleans with
    `native_values`), or, for a query language, escaped and quoted text."""

    def body_value(f: Field, value: Any, rounding: Rounding) -> Any:
        fmt = value_format(search, f)
        text = render(value, fmt, rounding)  # type: ignore[arg-type]
        if text is None or not search.native_values:
            return text
        if fmt == "bool_lower":
            return text == "true"
        if fmt in ("number", "epoch_s", "epoch_ms"):
            number = Decimal(text)
            return int(number) if number == number.to_integral_value() else float(number)
        return text

    def query_value(f: Field, value: Any, rounding: Rounding) -> Any:
        text = render(value, value_format(search, f), rounding)  # type: ignore[arg-type]
        return None if text is None else quote_value(search.query, f, text)  # type: ignore[arg-type]

    return body_value if search.filter is not None else query_value


def filterable(entity: Entity, search: Search) -> set[str]:
    names = search.filterable if search.filterable is not None else entity.column_names
    return {c for c in names if is_scalar(entity.field(c).type)}


def compile_where(entity: Entity, search: Search, where: Expr | None, window: list[Expr]) -> Pushed:
    """The part of `window AND where` the search carries (the window always)."""
    if search.query is not None:
        ops = available_ops(search.query)
    else:
        ops = {op for op, _ in search.filter.operators}  # type: ignore[union-attr]
    pushdown = Pushdown(entity, ops, filterable(entity, search), _renderer(search))
    parts = [pushdown.compile(t) for t in window] + [pushdown.compile(t) for t in conjuncts(where)]
    if any(p is None for p in parts[: len(window)]):
        raise QueryError(
            f"the search of {entity.name} cannot filter {search.cap_field} by >= and <; its result cap needs "
            "that: add the operators (ge, lt) to the search in the catalog"
        )
    tree = conjoin(parts)
    if search.filter is not None:
        return fit_body(search.filter, tree, len(window))
    return fit_query(search.query, tree, _names(entity, search), len(window))  # type: ignore[arg-type]


def _names(entity: Entity, search: Search) -> dict[str, str]:
    return {f.name: search.name_of(f.name, f.api_name) for f in entity.fields}


def sortable(entity: Entity, search: Search, query: Query) -> bool:
    """Whether the search can deliver query.order_by (one key on a non-nullable column)."""
    if search.sort is None or len(query.order_by) != 1:
        return False
    o = query.order_by[0]
    f = entity.field(o.column)
    allowed = search.sort.columns if search.sort.columns is not None else entity.column_names
    return not f.nullable and is_scalar(f.type) and o.column in allowed and not o.nulls_first


def plan_search(
    catalog: Catalog, entity: Entity, query: Query, *, window: tuple[Any, Any] | None = None
) -> SearchPlan | None:
    """The search request of a read; None when the search would push nothing (the list
    endpoint serves the read) or the WHERE can match no row (the caller plans an empty read)."""
    search = entity.search
    assert search is not None
    cap = _cap(entity, search, window)
    window_terms = _window_terms(cap) if cap is not None else []
    tree = compile_where(entity, search, query.where, window_terms)
    ordered = sortable(entity, search, query)
    if cap is not None and ordered and (query.order_by[0].column, query.order_by[0].descending) != (cap.field, False):
        ordered = False  # windows come in ascending order of the cap field: only that order holds across them
    if tree is False:
        return None
    if tree is None and not ordered and not search.always and cap is None:
        return None
    names = _names(entity, search)
    if cap is not None and query.columns is not None:
        query = dataclasses.replace(query, columns=(*query.columns, cap.field))  # each window's residual reads it
    pushed: list[str] = [f"{search.method} {search.path}"]
    params: dict[str, str] = {}
    body: dict[str, Any] | None = copy.deepcopy(search.body) if isinstance(search.body, dict) else {}
    if search.filter is not None:
        if tree is not None:
            value = render_body(search, entity, tree)
            set_path(body, search.filter.at, value)  # type: ignore[arg-type]
            pushed.append(f"{search.filter.at}={json.dumps(value, default=str)}")
    else:
        ql = search.query
        assert ql is not None
        text = render_query(ql, tree, names) if tree is not None else ""
        order = ""
        if ordered and search.sort is not None and search.sort.at is None:
            order = _sort_text(search, names, query)
        fields = ", ".join(_projection(entity, search, query) or [names[c] for c in entity.column_names])
        where = fill_text(ql.where, {"filter": text}) if text else ""
        full = fill_text(ql.template, {"filter": where, "order": order, "fields": fields}).strip()
        if full:
            _place(search, body, params, ql.param, full)
            pushed.append(f"{ql.param}={full}")
    if ordered and search.sort is not None and search.sort.at is not None:
        o = query.order_by[0]
        value = fill(search.sort.template, {
            "field": names[o.column], "direction": search.sort.descending if o.descending else search.sort.ascending,
        })
        _place(search, body, params, search.sort.at, value)
        pushed.append(f"{search.sort.at}={json.dumps(value)}")
    asked = _projection(entity, search, query)
    if search.projection and asked is not None:
        _place(search, body, params, search.projection, asked if search.in_body else ",".join(asked))
        pushed.append(f"{search.projection}={','.join(asked)}")
    endpoint = Endpoint(
        path=search.path,
        method=search.method,
        body=body if search.in_body else None,
        pagination=search.pagination or catalog.pagination_for(entity),
        records_path=search.records_path if search.records_path is not None else catalog.records_path_for(entity),
    )
    return SearchPlan(endpoint, params, pushed, ordered, cap)


def _place(search: Search, body: dict | None, params: dict[str, str], at: str, value: Any) -> None:
    if search.in_body:
        set_path(body, at, value)  # type: ignore[arg-type]
    else:
        params[at] = value if isinstance(value, str) else json.dumps(value)


def _sort_text(search: Search, names: dict[str, str], query: Query) -> str:
    o = query.order_by[0]
    sort = search.sort
    assert sort is not None
    return fill_text(str(sort.template), {
        "field": names[o.column], "direction": sort.descending if o.descending else sort.ascending,
    })


def _projection(entity: Entity, search: Search, query: Query) -> list[str] | None:
    """The API names a search asks for (None = all)."""
    prefix = search.strip_prefix or (entity.properties.api_prefix if entity.properties else None)
    return projection(entity, query, prefix)


def _cap(entity: Entity, search: Search, window: tuple[Any, Any] | None) -> Cap | None:
    if search.max_results is None or search.cap_field is None:
        return None
    f = entity.field(search.cap_field)
    fmt = value_format(search, f)
    start = dt.datetime.fromisoformat(search.cap_start[:10]).replace(tzinfo=dt.UTC)
    unit = _UNIT.get(fmt, dt.timedelta(milliseconds=1))
    return Cap(search.cap_field, search.max_results, start, unit, window or (None, None))


def _window_terms(cap: Cap) -> list[Expr]:
    lo, hi = cap.window
    terms: list[Expr] = []
    if lo is not None:
        terms.append(Compare(cap.field, "ge", lo))
    if hi is not None:
        terms.append(Compare(cap.field, "lt", hi))
    return terms


def window_expr(cap: Cap) -> Expr | None:
    """The window as a predicate (the residual checks it: the API may return a wider range)."""
    return and_all(_window_terms(cap))


def split_window(cap: Cap, now: dt.datetime) -> list[tuple[dt.datetime | None, dt.datetime | None]] | None:
    """The window's two halves, lower first; None when it is one unit wide (cannot be cut)."""
    lo, hi = cap.window
    low = lo if lo is not None else min(cap.start, (hi or now) - dt.timedelta(days=1))
    high = hi if hi is not None else max(now + dt.timedelta(days=1), low + dt.timedelta(days=1))
    span = high - low
    if span <= cap.unit:
        return None
    mid = low + (span // 2)
    mid = low + ((mid - low) // cap.unit) * cap.unit
    if mid <= low or mid >= high:
        return None
    return [(lo, mid), (mid, hi)]
