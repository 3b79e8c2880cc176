"""IR → the fewest API requests (filter, projection, sort, page size, ids) plus a residual filter.

Pushing a predicate only saves requests: the residual always re-checks the whole WHERE, so a
pushed predicate may select a *superset* of the rows (never a subset). Bounds are therefore
widened, never narrowed, when the API's operators or value formats cannot say them exactly.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from saasbridge.catalog.model import Catalog, Entity, Field, FieldFilter, Pagination
from saasbridge.catalog.templates import fill, set_path
from saasbridge.client.endpoint import Endpoint
from saasbridge.errors import QueryError
from saasbridge.query.bounds import render, step_up
from saasbridge.query.ir import (
    Between,
    Compare,
    Const,
    Contains,
    Expr,
    InList,
    IsNull,
    Query,
    and_all,
    columns_of,
    conjuncts,
)
from saasbridge.query.projection import projection
from saasbridge.query.search_plan import Cap, SearchPlan, plan_search, window_expr

Mode = Literal["list", "ids", "get", "empty"]


@dataclass
class Plan:
    entity: Entity
    mode: Mode
    params: dict[str, str | list[str]] = field(default_factory=dict)  # a list repeats the key
    ids: list[str] = field(default_factory=list)
    api_fields: list[str] | None = None
    page_size: int = 100
    limit: int | None = None
    residual: Expr | None = None
    ordered: bool = False
    pushed: list[str] = field(default_factory=list)
    expected_requests: int | None = None
    # parent-scoped entities: the path values of each request series (column → value), or the
    # query on the parent entity whose rows give them (fan-out)
    scopes: list[dict[str, Any]] | None = None
    parent_query: Query | None = None
    endpoint: Endpoint | None = None  # a search endpoint instead of the list path
    cap: Cap | None = None  # the search's result cap: the reader cuts a read that passes it

    def id_batches(self) -> list[list[str]]:
        """The ids of ids mode, one list per request."""
        batch = self.entity.batch_read
        size = max(1, batch.max_ids if batch is not None else self.entity.ids_max)
        return [self.ids[i : i + size] for i in range(0, len(self.ids), size)]

    def id_request(self, ids: list[str]) -> tuple[dict[str, Any], Endpoint | None]:
        """(query parameters, endpoint) of one request of ids mode: the ids parameter of the
        list endpoint, or the entity's batch read."""
        batch = self.entity.batch_read
        if batch is None:
            return {**self.params, self.entity.ids_param: ",".join(ids)}, None  # type: ignore[dict-item]
        body: dict[str, Any] = dict(batch.body or {})
        set_path(body, batch.ids_at, [fill(batch.id_item, {"id": i}) for i in ids])
        if batch.projection and self.api_fields:
            set_path(body, batch.projection, list(self.api_fields))
        single = Pagination(style="single", limit_param=None, max_page_size=max(1, len(ids)))
        return {}, Endpoint(batch.path, batch.method, body, single, batch.records_path)


@dataclass
class _Domain:
    """What the top-level AND says about one column."""

    values: list[Any] | None = None  # allowed values (eq / IN), None = unconstrained
    lo: Any = None
    lo_incl: bool = True
    hi: Any = None
    hi_incl: bool = True
    has_lo: bool = False
    has_hi: bool = False
    is_null: bool = False
    compared: bool = False  # some predicate that null never satisfies
    others: list[Expr] = field(default_factory=list)  # ne, not in, contains


class _Contradiction(Exception):
    pass


def plan(
    catalog: Catalog,
    query: Query,
    *,
    page_size: int | None = None,
    window: tuple[Any, Any] | None = None,
) -> Plan:
    """Plan one read of `query.entity`; `window` confines a capped search to a range of its cap
    field (the reader's cut of a read that passes the cap)."""
    entity = catalog.entity(query.entity)
    pagination = catalog.pagination_for(entity)
    _check_columns(entity, query)
    max_page = max(1, pagination.max_page_size)
    size = max(1, min(page_size or max_page, max_page))
    residual = and_all(conjuncts(query.where)) if query.where is not None else None
    if residual == Const(True):
        residual = None
    ordered = _ordered(entity, query)
    # without the requested order, the caller sorts everything: no early stop
    limit = query.limit if (not query.order_by or ordered) else None
    base = Plan(entity=entity, mode="list", page_size=size, limit=limit, residual=residual)

    if query.limit == 0 or any(c == Const(False) for c in conjuncts(query.where)):
        return _empty(base, "nothing can match")
    try:
        domains = _domains(entity, conjuncts(query.where))
    except _Contradiction as exc:
        return _empty(base, str(exc))

    _project(entity, query, base)
    if entity.path_columns:
        _scope(entity, domains, base)
    pk = entity.primary_key
    pk_domain = domains.get(pk) if pk else None
    if (
        pk_domain is not None
        and pk_domain.values is not None
        and (entity.ids_param or entity.get_path or entity.batch_read)
        and not entity.path_columns
        and window is None
    ):
        ids = [str(v) for v in pk_domain.values]
        if entity.ids_param or entity.batch_read:
            base.mode = "ids"
            base.ids = ids
            base.ordered = False
            carrier = entity.ids_param or f"{entity.batch_read.method} {entity.batch_read.path}"  # type: ignore[union-attr]
            base.pushed.insert(0, f"{carrier}=<{len(ids)} ids in {len(base.id_batches())} requests>")
            per_batch = [math.ceil(len(b) / size) for b in base.id_batches()]
            base.expected_requests = sum(per_batch)
        else:
            base.mode = "get"
            base.ids = ids
            base.ordered = False
            base.api_fields = None
            base.params = {}
            base.pushed = [f"GET {entity.get_path} × {len(ids)}"]
            base.expected_requests = len(ids)
        if query.order_by:
            base.limit = None
        return base

    exact = True
    pushed_terms = 0
    for column, dom in domains.items():
        if column in entity.path_columns:
            exact = exact and dom.values is not None
            continue  # bound in the path (or by the parent's rows), not a query parameter
        f = entity.field(column)
        ok, n = _push_domain(f, dom, base)
        exact = exact and ok
        pushed_terms += n
    # predicates the domain analysis does not cover (OR, NOT, …) are not pushed
    exact = exact and all(_is_simple(c) for c in conjuncts(query.where))
    base.ordered = ordered
    if ordered:
        _push_sort(entity, query, base)
    search = entity.search
    if search is not None and not entity.path_columns and (
        not exact or (query.order_by and not ordered) or search.always or window is not None
    ):
        searched = plan_search(catalog, entity, query, window=window)
        if searched is not None:
            return _searched(base, searched, query, page_size)
        if window is not None or any(c == Const(False) for c in conjuncts(query.where)):
            return _empty(base, "nothing can match")
    if base.limit is not None and exact:
        base.page_size = max(1, min(base.limit, size))
        base.pushed.append(f"page size {base.page_size} (limit {base.limit}, filters exact)")
        base.expected_requests = math.ceil(base.limit / base.page_size)
    return base


def _searched(base: Plan, searched: SearchPlan, query: Query, page_size: int | None) -> Plan:
    """The plan of a read through the entity's search endpoint."""
    endpoint = searched.endpoint
    max_page = max(1, endpoint.pagination.max_page_size) if endpoint.pagination else base.page_size
    base.page_size = max(1, min(page_size or max_page, max_page))
    base.endpoint = endpoint
    base.params = searched.params
    base.api_fields = None
    base.ordered = searched.ordered
    base.limit = query.limit if (not query.order_by or searched.ordered) else None
    base.pushed = searched.pushed
    base.cap = searched.cap
    base.expected_requests = None
    if base.limit is not None and query.where is None and searched.cap is None:
        base.page_size = max(1, min(base.limit, base.page_size))  # nothing to filter: the first rows are the answer
        base.pushed.append(f"page size {base.page_size} (limit {base.limit})")
    if searched.cap is not None and (window := window_expr(searched.cap)) is not None:
        base.residual = and_all(conjuncts(base.residual) + conjuncts(window))
    return base


def _scope(entity: Entity, domains: dict[str, _Domain], base: Plan) -> None:
    """Bind the path placeholders: one request series per combination of the values the query
    gives them (= / IN), else the parent's rows; else a one-line error naming the column."""
    values = {c: domains[c].values for c in entity.path_columns if c in domains and domains[c].values is not None}
    if len(values) == len(entity.path_columns):
        columns = list(values)
        base.scopes = [dict(zip(columns, combo, strict=True)) for combo in itertools.product(*values.values())]
        base.pushed.insert(0, f"{entity.path} × {len(base.scopes)} (bound by the query)")
        return
    missing = [c for c in entity.path_columns if c not in values]
    if entity.parent is None:
        raise QueryError(
            f"{entity.name} is listed per {', '.join(missing)} ({entity.path}): add WHERE {missing[0]} = … "
            f"(or IN (…)) to the query, or declare a parent entity for it in the catalog"
        )
    keys = dict(entity.parent.keys)
    where = and_all([InList(keys[c], tuple(v)) for c, v in values.items()]) if values else None
    base.parent_query = Query(entity.parent.entity, tuple(dict.fromkeys(keys.values())), where)
    base.pushed.insert(0, f"{entity.path} × each row of {entity.parent.entity}")


def _empty(base: Plan, why: str) -> Plan:
    base.mode = "empty"
    base.params = {}
    base.api_fields = None
    base.pushed = [f"no request: {why}"]
    base.expected_requests = 0
    return base


def _check_columns(entity: Entity, query: Query) -> None:
    names = set(query.columns or ()) | columns_of(query.where) | {o.column for o in query.order_by}
    for name in sorted(names):
        entity.field(name)  # raises UnknownEntityError naming the available columns


def _project(entity: Entity, query: Query, base: Plan) -> None:
    api = projection(entity, query, entity.properties.api_prefix if entity.properties else None)
    if not entity.projection_param or not api:
        return
    base.api_fields = api
    base.params[entity.projection_param] = api if entity.projection_repeat else ",".join(api)
    base.pushed.append(f"{entity.projection_param}={','.join(api)}")


def _ordered(entity: Entity, query: Query) -> bool:
    """Whether the API can deliver query.order_by (one key on a non-nullable column)."""
    if not query.order_by:
        return False
    if len(query.order_by) != 1 or entity.sort is None:
        return False
    o = query.order_by[0]
    f = entity.field(o.column)
    if f.nullable:
        return False
    s = entity.sort
    return s.params_for(o.column, o.descending) is not None or s.default == (o.column, o.descending)


def _push_sort(entity: Entity, query: Query, base: Plan) -> None:
    o = query.order_by[0]
    s = entity.sort
    assert s is not None
    if s.default == (o.column, o.descending):
        base.pushed.append(f"order {o.column}{' desc' if o.descending else ''} (API default)")
        return
    params = s.params_for(o.column, o.descending)
    assert params is not None
    base.params.update(params)
    base.pushed.extend(f"{k}={v}" for k, v in params.items())


# ---------------------------------------------------------------- domain analysis


def _is_simple(e: Expr) -> bool:
    return isinstance(e, (Compare, Between, IsNull, Contains)) or (isinstance(e, InList) and not e.negate)


def _domains(entity: Entity, terms: list[Expr]) -> dict[str, _Domain]:
    """Per-column constraints of the top-level AND; raises _Contradiction when none can hold."""
    out: dict[str, _Domain] = {}
    for t in terms:
        if not _is_simple(t) and not (isinstance(t, InList) and t.negate):
            continue
        column = t.column  # type: ignore[union-attr]
        d = out.setdefault(column, _Domain())
        try:
            _add(d, t)
        except TypeError:  # literals of incomparable types: analyse nothing for this column
            out[column] = _Domain(others=[t])
    for column, d in out.items():
        try:
            _close(column, d)
        except TypeError:
            out[column] = _Domain()
    return out


def _add(d: _Domain, t: Expr) -> None:
    if isinstance(t, IsNull):
        if t.negate:
            d.compared = True
        else:
            d.is_null = True
        return
    d.compared = True
    if isinstance(t, Compare):
        if t.value is None:
            raise _Contradiction(f"{t.column} compared with NULL")
        if t.op == "eq":
            _restrict(d, [t.value])
        elif t.op in ("gt", "ge"):
            _lower(d, t.value, t.op == "ge")
        elif t.op in ("lt", "le"):
            _upper(d, t.value, t.op == "le")
        else:
            d.others.append(t)
    elif isinstance(t, Between):
        if t.low is None or t.high is None:
            raise _Contradiction(f"{t.column} BETWEEN with NULL")
        _lower(d, t.low, True)
        _upper(d, t.high, True)
    elif isinstance(t, InList) and not t.negate:
        _restrict(d, [v for v in t.values if v is not None])
    else:
        d.others.append(t)


def _restrict(d: _Domain, values: list[Any]) -> None:
    unique: list[Any] = []
    for v in values:
        if v not in unique:
            unique.append(v)
    d.values = unique if d.values is None else [v for v in d.values if v in unique]


def _lower(d: _Domain, v: Any, incl: bool) -> None:
    if not d.has_lo or v > d.lo or (v == d.lo and not incl):
        d.lo, d.lo_incl, d.has_lo = v, incl, True


def _upper(d: _Domain, v: Any, incl: bool) -> None:
    if not d.has_hi or v < d.hi or (v == d.hi and not incl):
        d.hi, d.hi_incl, d.has_hi = v, incl, True


def _close(column: str, d: _Domain) -> None:
    if d.is_null and d.compared:
        raise _Contradiction(f"{column} IS NULL and compared with a value")
    if d.has_lo and d.has_hi and (d.lo > d.hi or (d.lo == d.hi and not (d.lo_incl and d.hi_incl))):
        raise _Contradiction(f"{column} range is empty")
    if d.values is not None:
        d.values = [v for v in d.values if _in_range(d, v) and all(_satisfies(o, v) for o in d.others)]
        if not d.values:
            raise _Contradiction(f"no value of {column} satisfies every predicate")


def _in_range(d: _Domain, v: Any) -> bool:
    if d.has_lo and (v < d.lo or (v == d.lo and not d.lo_incl)):
        return False
    return not (d.has_hi and (v > d.hi or (v == d.hi and not d.hi_incl)))


def _satisfies(t: Expr, v: Any) -> bool:
    """Whether a non-null value satisfies one of `others` (ne, not in, contains); True if unsure."""
    if isinstance(t, Compare) and t.op == "ne":
        return v != t.value
    if isinstance(t, InList) and t.negate:
        return None not in t.values and v not in t.values
    if isinstance(t, Contains) and isinstance(v, str):
        return t.value in v
    return True


# ---------------------------------------------------------------- pushing into parameters


def _param(f: Field, flt: FieldFilter) -> str:
    return flt.param.replace("{op}", flt.op).replace("{field}", f.api_name).replace("{column}", f.name)


def _set(base: Plan, f: Field, flt: FieldFilter, text: str | list[str]) -> None:
    name = _param(f, flt)
    base.params[name] = text
    base.pushed.append(f"{name}={text if isinstance(text, str) else '&'.join(text)}")


def _push_domain(f: Field, d: _Domain, base: Plan) -> tuple[bool, int]:
    """Push what the field's filters can carry. Returns (every term enforced exactly, terms pushed)."""
    exact = _push_others(f, d, base)
    pushed = 0
    if d.values is not None:
        if len(d.values) == 1 and (flt := f.filter_for("eq")) and (text := render(d.values[0], flt.format, "exact")):
            _set(base, f, flt, text)
            return exact, pushed + 1
        flt = f.filter_for("in")
        if flt and (flt.max_values is None or len(d.values) <= flt.max_values):
            texts = [render(v, flt.format, "exact") for v in d.values]
            if flt.repeat and all(t is not None for t in texts):
                _set(base, f, flt, texts)  # type: ignore[arg-type]
                return exact, pushed + 1
            if all(t is not None and flt.separator not in t for t in texts):
                _set(base, f, flt, flt.separator.join(texts))  # type: ignore[arg-type]
                return exact, pushed + 1
        # not pushable as a set: a range around the set still narrows the listing
        try:
            lo, hi = min(d.values), max(d.values)
        except TypeError:
            return False, pushed
        pushed += _push_lower(f, lo, True, base)[1] + _push_upper(f, hi, True, base)[1]
        return False, pushed
    if d.has_lo:
        ok, n = _push_lower(f, d.lo, d.lo_incl, base)
        exact, pushed = exact and ok, pushed + n
    if d.has_hi:
        ok, n = _push_upper(f, d.hi, d.hi_incl, base)
        exact, pushed = exact and ok, pushed + n
    return exact, pushed


def _push_others(f: Field, d: _Domain, base: Plan) -> bool:
    """ne / contains terms; True when each went into the API exactly."""
    if d.is_null:
        return False
    exact = True
    for t in d.others:
        if isinstance(t, Contains) and (flt := f.filter_for("contains")) and (text := render(t.value, flt.format, "exact")):
            _set(base, f, flt, text)
        elif isinstance(t, Compare) and t.op == "ne" and (flt := f.filter_for("ne")) and (
            text := render(t.value, flt.format, "exact")
        ):
            _set(base, f, flt, text)
            exact = False  # APIs disagree on whether != keeps nulls; the residual decides
        else:
            exact = False
    return exact


def _push_lower(f: Field, v: Any, incl: bool, base: Plan) -> tuple[bool, int]:
    """`column >= v` (incl) or `column > v`: push it, or a wider bound. (exact, pushed)."""
    ge, gt = f.filter_for("ge"), f.filter_for("gt")
    if incl:
        if ge and (text := render(v, ge.format, "floor")):
            _set(base, f, ge, text)
            return render(v, ge.format, "exact") is not None, 1
        return False, 0  # `> v - unit` would need the API's own precision: leave it to the residual
    if gt and (text := render(v, gt.format, "floor")):
        _set(base, f, gt, text)
        return render(v, gt.format, "exact") is not None, 1
    if ge and (text := render(v, ge.format, "floor")):
        _set(base, f, ge, text)  # `>= v` is a superset of `> v`
        return False, 1
    return False, 0


def _push_upper(f: Field, v: Any, incl: bool, base: Plan) -> tuple[bool, int]:
    """`column <= v` (incl) or `column < v`: push it, or a wider bound. (exact, pushed)."""
    le, lt = f.filter_for("le"), f.filter_for("lt")
    if not incl:
        if lt and (text := render(v, lt.format, "ceil")):
            _set(base, f, lt, text)
            return render(v, lt.format, "exact") is not None, 1
        if le and (text := render(v, le.format, "ceil")):
            _set(base, f, le, text)  # `<= v` is a superset of `< v`
            return False, 1
        return False, 0
    if le and (text := render(v, le.format, "ceil")):
        _set(base, f, le, text)
        return render(v, le.format, "exact") is not None, 1
    if lt and (nxt := step_up(v, f.type)) is not None and (text := render(nxt, lt.format, "ceil")):
        _set(base, f, lt, text)  # `<= v` == `< v + smallest unit` of the column's type
        return render(nxt, lt.format, "exact") is not None, 1
    return False, 0
