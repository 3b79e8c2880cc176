"""A pushed condition tree → the filter part of a JSON search body (HubSpot filterGroups, or
nested AND/OR nodes as Intercom and Notion take them), within the endpoint's declared limits."""

from __future__ import annotations

from typing import Any

from saasbridge.catalog.model import Entity
from saasbridge.catalog.search import BodyFilter, Search
from saasbridge.catalog.templates import fill
from saasbridge.query.pushdown import Cond, Pushed, Tree, depth, dnf, fit, size

_MANY = 1 << 20


def fit_body(spec: BodyFilter, tree: Pushed, keep: int = 0) -> Pushed:
    """The largest part of `tree` (whole top-level conjuncts) the body's limits allow."""
    if spec.shape == "groups":
        return fit(tree, lambda t: _groups(spec, t) is not None, keep)

    def fits(t: Tree) -> bool:
        return (
            (spec.max_depth is None or depth(t) <= spec.max_depth)
            and (spec.max_conditions is None or size(t) <= spec.max_conditions)
            and (spec.max_items is None or _widest(t) <= spec.max_items)
        )

    return fit(tree, fits, keep)


def render_body(search: Search, entity: Entity, tree: Tree) -> Any:
    """The JSON value that goes at `filter.at`."""
    spec = search.filter
    assert spec is not None
    if spec.shape == "groups":
        groups = _groups(spec, tree)
        assert groups is not None, "fit_body first"
        return [fill(spec.and_, {"items": [_condition(search, entity, c) for c in g]}) for g in groups]
    return _node(search, entity, tree)


def _groups(spec: BodyFilter, tree: Tree) -> list[list[Cond]] | None:
    groups = dnf(tree, spec.max_groups or _MANY)
    if groups is None:
        return None
    if spec.max_per_group is not None and any(len(g) > spec.max_per_group for g in groups):
        return None
    if spec.max_conditions is not None and sum(len(g) for g in groups) > spec.max_conditions:
        return None
    return groups


def _widest(tree: Tree) -> int:
    if isinstance(tree, Cond):
        return 0
    return max([len(tree.items), *(_widest(i) for i in tree.items)])


def _node(search: Search, entity: Entity, tree: Tree) -> Any:
    spec = search.filter
    assert spec is not None
    if isinstance(tree, Cond):
        return _condition(search, entity, tree)
    template = spec.and_ if tree.kind == "and" else spec.or_
    return fill(template, {"items": [_node(search, entity, i) for i in tree.items]})


def _condition(search: Search, entity: Entity, cond: Cond) -> Any:
    spec = search.filter
    assert spec is not None
    f = entity.field(cond.column)
    values: dict[str, Any] = {"field": search.name_of(f.name, f.api_name), "op": spec.token(cond.op)}
    if cond.op in ("in", "not_in"):
        values["values"] = list(cond.value)
    elif cond.op == "between":
        values["low"], values["high"] = cond.value
    elif cond.value is not None:
        values["value"] = cond.value
    return fill(spec.template(cond.op), values)
