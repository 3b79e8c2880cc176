"""The query IR: what both protocol front ends translate into, and what the planner reads.

Values are Python values typed by the column: int, float, Decimal, str, bool, datetime.date,
datetime.datetime (always timezone-aware UTC). Comparisons follow SQL three-valued logic: a
comparison with NULL is unknown and does not match, so only `is_null` matches a null value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

CompareOp = Literal["eq", "ne", "lt", "le", "gt", "ge"]
SetOp = Literal["in", "not_in"]


@dataclass(frozen=True)
class Compare:
    """`column <op> value`."""

    column: str
    op: CompareOp
    value: Any


@dataclass(frozen=True)
class InList:
    """`column IN (values)`; with `negate`, `column NOT IN (values)`."""

    column: str
    values: tuple[Any, ...]
    negate: bool = False


@dataclass(frozen=True)
class Between:
    """`low <= column <= high` (inclusive at both ends, as SQL and AppFlow define it)."""

    column: str
    low: Any
    high: Any


@dataclass(frozen=True)
class IsNull:
    """`column IS NULL`; with `negate`, `column IS NOT NULL`."""

    column: str
    negate: bool = False


@dataclass(frozen=True)
class Contains:
    """`column` (a string) contains `value` as a substring, case-sensitive."""

    column: str
    value: str


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


@dataclass(frozen=True)
class Const:
    """TRUE (every row) or FALSE (no row)."""

    value: bool


Expr = Compare | InList | Between | IsNull | Contains | And | Or | Not | Const


@dataclass(frozen=True)
class OrderBy:
    column: str
    descending: bool = False
    nulls_first: bool = False


@dataclass(frozen=True)
class Query:
    """One read of one entity.

    `columns` are the column names the caller needs back (None = all); `where` is the filter
    (None = every row); `limit` caps the rows after filtering; `order_by` is only a request:
    the planner says in its plan whether the API delivers that order.
    """

    entity: str
    columns: tuple[str, ...] | None = None
    where: Expr | None = None
    limit: int | None = None
    order_by: tuple[OrderBy, ...] = ()


def conjuncts(expr: Expr | None) -> list[Expr]:
    """The top-level AND terms of `expr` (flattened)."""
    if expr is None:
        return []
    if isinstance(expr, And):
        out: list[Expr] = []
        for item in expr.items:
            out.extend(conjuncts(item))
        return out
    return [expr]


def and_all(items: list[Expr]) -> Expr | None:
    """AND of `items`, or None when there is none."""
    flat = [i for i in items if i != Const(True)]
    if not flat:
        return None
    if len(flat) == 1:
        return flat[0]
    return And(tuple(flat))


def columns_of(expr: Expr | None) -> set[str]:
    """Every column an expression reads."""
    if expr is None or isinstance(expr, Const):
        return set()
    if isinstance(expr, (And, Or)):
        out: set[str] = set()
        for item in expr.items:
            out |= columns_of(item)
        return out
    if isinstance(expr, Not):
        return columns_of(expr.item)
    return {expr.column}
