"""A pushed condition tree → one query-language string (Stripe Search, JQL, Zendesk, GitHub
qualifiers, SOQL) by the grammar the catalog declares: operator templates, AND / OR / NOT,
grouping, quoting and escaping. Values are escaped by the grammar's rules; a value the grammar
cannot carry (a `forbidden` character) is never sent: its condition stays in the residual."""

from __future__ import annotations

from typing import Any

from saasbridge.catalog.model import Field
from saasbridge.catalog.search import COMPLEMENT, QueryLanguage
from saasbridge.catalog.templates import fill_text
from saasbridge.query.pushdown import Cond, Pushed, Tree, depth, fit, size


def available_ops(ql: QueryLanguage) -> set[str]:
    """Operators the grammar can say: its templates, and complements through `not`."""
    ops = {op for op, _ in ql.operators}
    if ql.not_:
        ops |= {neg for neg, pos in COMPLEMENT.items() if pos in ops}
    return ops


def quote_value(ql: QueryLanguage, f: Field, text: str) -> str | None:
    """A rendered value as the grammar writes it: escaped, and quoted for the quoted kinds;
    None when it holds a character the grammar cannot carry."""
    if any(ch in text for ch in ql.forbidden):
        return None
    for old, new in ql.escape:
        text = text.replace(old, new)
    return f"{ql.quote}{text}{ql.quote}" if f.type.kind in ql.quote_kinds else text


def fit_query(ql: QueryLanguage, tree: Pushed, names: dict[str, str], keep: int = 0) -> Pushed:
    """The largest part of `tree` (whole top-level conjuncts) the grammar and its limits allow."""

    def fits(t: Tree) -> bool:
        if ql.group is None and (depth(t) > 1 or (not _bare(ql) and _has_or(t))):
            return False
        if ql.or_ is None and _has_or(t):
            return False
        if ql.max_terms is not None and size(t) > ql.max_terms:
            return False
        return ql.max_length is None or len(render_query(ql, t, names)) <= ql.max_length

    return fit(tree, fits, keep)


def render_query(ql: QueryLanguage, tree: Tree, names: dict[str, str]) -> str:
    """The filter text of a fitted tree (`names`: column → the grammar's field name); grouped
    when the template puts other clauses beside it, so that its OR cannot bind to them."""
    return _tree(ql, tree, names, top=_bare(ql))


def _tree(ql: QueryLanguage, tree: Tree, names: dict[str, str], *, top: bool) -> str:
    if isinstance(tree, Cond):
        return _condition(ql, tree, names)
    joiner = ql.and_ if tree.kind == "and" else ql.or_
    assert joiner is not None
    text = joiner.join(_tree(ql, i, names, top=False) for i in tree.items)
    return text if top or ql.group is None else fill_text(ql.group, {"items": text})


def _bare(ql: QueryLanguage) -> bool:
    """Whether the filter is the whole string (nothing beside it for an OR to bind to)."""
    return ql.template.strip() == "{filter}" and ql.where.strip() == "{filter}"


def _condition(ql: QueryLanguage, cond: Cond, names: dict[str, str]) -> str:
    values: dict[str, Any] = {"field": names[cond.column]}
    if cond.op in ("in", "not_in"):
        values["values"] = ql.list_separator.join(cond.value)
    elif cond.op == "between":
        values["low"], values["high"] = cond.value
    elif cond.value is not None:
        values["value"] = cond.value
    template = ql.operator(cond.op)
    if template is not None:
        return fill_text(template, values)
    positive = ql.operator(COMPLEMENT[cond.op])
    assert positive is not None and ql.not_ is not None
    return fill_text(ql.not_, {"item": fill_text(positive, values)})


def _has_or(tree: Tree) -> bool:
    return not isinstance(tree, Cond) and (tree.kind == "or" or any(_has_or(i) for i in tree.items))
