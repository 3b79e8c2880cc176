"""IR → a tree of conditions a search can carry, selecting a superset of the rows.

Shared by the search-body and query-language compilers. Negations are pushed down to the
conditions (`NOT a < 1` → `a >= 1`); a predicate the search cannot say becomes TRUE (dropped:
the residual re-checks every row), an OR with such a branch is dropped whole; bounds are
rendered floor / ceil so that rounding only widens. So the tree never selects fewer rows than
the WHERE does, whatever is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from saasbridge.catalog.model import Entity, Field
from saasbridge.query.bounds import Rounding, step_up
from saasbridge.query.ir import And, Between, Compare, Const, Contains, Expr, InList, IsNull, Not, Or


@dataclass(frozen=True)
class Cond:
    """One condition: `column op value`; `value` is rendered text, a tuple of texts (in, not_in),
    a (low, high) pair (between) or None (is_null, not_null)."""

    column: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Node:
    kind: str  # "and" | "or"
    items: tuple[Tree, ...]


Tree = Cond | Node
# The tree a WHERE compiles to: a Tree, None (TRUE: nothing to push) or False (no row can match).
Pushed = Tree | None | bool

# (field, value, rounding) → the value as the search writes it, or None when it cannot.
Renderer = Callable[[Field, Any, Rounding], Any]


class Pushdown:
    """Compiles IR for one entity's search: `ops` are the operators it takes, `filterable` the
    columns it can filter on."""

    def __init__(self, entity: Entity, ops: set[str], filterable: set[str], render: Renderer):
        self.entity = entity
        self.ops = ops
        self.filterable = filterable
        self.render = render

    def compile(self, expr: Expr | None) -> Pushed:
        if expr is None:
            return None
        return self._expr(expr, negated=False)

    def _expr(self, e: Expr, negated: bool) -> Pushed:
        if isinstance(e, Const):
            return e.value != negated
        if isinstance(e, Not):
            return self._expr(e.item, not negated)
        if isinstance(e, (And, Or)):
            conjunctive = isinstance(e, And) != negated
            parts = [self._expr(i, negated) for i in e.items]
            return conjoin(parts) if conjunctive else disjoin(parts)
        if e.column not in self.filterable:
            return None
        f = self.entity.field(e.column)
        if isinstance(e, Compare):
            op = _NEGATE[e.op] if negated else e.op
            return self._compare(f, op, e.value)
        if isinstance(e, Between):
            if negated:
                return disjoin([self._compare(f, "lt", e.low), self._compare(f, "gt", e.high)])
            if "between" in self.ops and (lo := self._text(f, e.low, "floor")) is not None and (
                hi := self._text(f, e.high, "ceil")
            ) is not None:
                return Cond(f.name, "between", (lo, hi))
            return conjoin([self._compare(f, "ge", e.low), self._compare(f, "le", e.high)])
        if isinstance(e, InList):
            return self._in(f, e.values, e.negate != negated)
        if isinstance(e, IsNull):
            op = "not_null" if e.negate != negated else "is_null"
            return Cond(f.name, op) if op in self.ops else None
        if isinstance(e, Contains) and not negated and "contains" in self.ops:
            text = self._text(f, e.value, "exact")
            return Cond(f.name, "contains", text) if text is not None else None
        return None

    def _text(self, f: Field, value: Any, rounding: Rounding) -> Any:
        return None if value is None else self.render(f, value, rounding)

    def _compare(self, f: Field, op: str, value: Any) -> Pushed:
        if value is None:
            return False  # a comparison with NULL matches no row
        if op in ("eq", "ne"):
            text = self._text(f, value, "exact")
            return Cond(f.name, op, text) if op in self.ops and text is not None else None
        if op in ("gt", "ge"):
            text = self._text(f, value, "floor")
            if text is None:
                return None
            if op in self.ops:
                return Cond(f.name, op, text)  # a floored bound only widens
            return Cond(f.name, "ge", text) if op == "gt" and "ge" in self.ops else None
        # lt / le
        text = self._text(f, value, "ceil")
        if text is None:
            return None
        if op in self.ops:
            return Cond(f.name, op, text)
        if op == "lt" and "le" in self.ops:
            return Cond(f.name, "le", text)  # `<= v` ⊇ `< v`
        if op == "le" and "lt" in self.ops and (nxt := step_up(value, f.type)) is not None:
            up = self._text(f, nxt, "ceil")
            return Cond(f.name, "lt", up) if up is not None else None
        return None

    def _in(self, f: Field, values: tuple[Any, ...], negate: bool) -> Pushed:
        texts = [self._text(f, v, "exact") for v in values if v is not None]
        if negate:
            if None in values:
                return False  # `x NOT IN (…, NULL)` is never true
            if any(t is None for t in texts):
                return None
            if "not_in" in self.ops:
                return Cond(f.name, "not_in", tuple(texts))
            return conjoin([self._compare(f, "ne", v) for v in values])
        if not texts:
            return False
        if any(t is None for t in texts):
            return None
        if len(texts) == 1:
            return self._compare(f, "eq", values[0]) if "eq" in self.ops else (
                Cond(f.name, "in", tuple(texts)) if "in" in self.ops else None
            )
        if "in" in self.ops:
            return Cond(f.name, "in", tuple(texts))
        return disjoin([self._compare(f, "eq", v) for v in values if v is not None])


_NEGATE = {"eq": "ne", "ne": "eq", "lt": "ge", "le": "gt", "gt": "le", "ge": "lt"}


def conjoin(parts: list[Pushed]) -> Pushed:
    """AND of pushed parts: TRUE parts drop out, one FALSE makes it FALSE."""
    if any(p is False for p in parts):
        return False
    items: list[Tree] = []
    for p in parts:
        if p is None or p is True:
            continue
        items.extend(p.items if isinstance(p, Node) and p.kind == "and" else (p,))  # type: ignore[arg-type]
    if not items:
        return None
    return items[0] if len(items) == 1 else Node("and", tuple(items))


def disjoin(parts: list[Pushed]) -> Pushed:
    """OR of pushed parts: one TRUE (unpushable) part makes it TRUE, FALSE parts drop out."""
    if any(p is None or p is True for p in parts):
        return None
    items: list[Tree] = []
    for p in parts:
        if p is False:
            continue
        items.extend(p.items if isinstance(p, Node) and p.kind == "or" else (p,))  # type: ignore[arg-type]
    if not items:
        return False
    return items[0] if len(items) == 1 else Node("or", tuple(items))


def conjuncts_of(tree: Tree) -> list[Tree]:
    return list(tree.items) if isinstance(tree, Node) and tree.kind == "and" else [tree]


def size(tree: Tree) -> int:
    """Number of conditions."""
    return 1 if isinstance(tree, Cond) else sum(size(i) for i in tree.items)


def depth(tree: Tree) -> int:
    return 0 if isinstance(tree, Cond) else 1 + max(depth(i) for i in tree.items)


def dnf(tree: Tree, limit: int) -> list[list[Cond]] | None:
    """The tree as an OR of AND-groups; None when that takes more than `limit` groups."""
    if isinstance(tree, Cond):
        return [[tree]]
    if tree.kind == "or":
        out: list[list[Cond]] = []
        for item in tree.items:
            groups = dnf(item, limit)
            if groups is None or len(out) + len(groups) > limit:
                return None
            out.extend(groups)
        return out
    result: list[list[Cond]] = [[]]
    for item in tree.items:
        groups = dnf(item, limit)
        if groups is None or len(result) * len(groups) > limit:
            return None
        result = [a + b for a in result for b in groups]
    return result


def fit(tree: Pushed, fits: Callable[[Tree], bool], keep: int = 0) -> Pushed:
    """Drop top-level conjuncts (the last first, never the first `keep`) until `fits` holds;
    dropping a conjunct only widens the selection. None when nothing fits."""
    if tree is None or isinstance(tree, bool):
        return tree
    items = conjuncts_of(tree)
    while items:
        candidate = items[0] if len(items) == 1 else Node("and", tuple(items))
        if fits(candidate):
            return candidate
        if len(items) <= keep:
            return None
        drop = max(range(keep, len(items)), key=lambda i: (size(items[i]), i))
        items = items[:drop] + items[drop + 1 :]
    return None
