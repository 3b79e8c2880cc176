"""Cut one read into independent splits: half-open time windows that cover every value once.

A split costs requests: each one needs at least one request and usually ends on a partial page,
so a scan cut into n windows pays about n/2 requests more than one cursor. Windows are therefore
cut only where they pay off: with a row density (`rows_per_day`) in the hint, no more windows
than `expected pages / min_pages_per_split`; without one, no narrower than `window_days`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from saasbridge.catalog.model import Catalog, Entity, FieldType
from saasbridge.errors import QueryError
from saasbridge.query.bounds import step_up
from saasbridge.query.ir import And, Between, Compare, Expr, IsNull, Or, Query, conjuncts

_MS = dt.timedelta(milliseconds=1)
MIN_PAGES_PER_SPLIT = 5  # a split must be worth this many full pages of expected rows


@dataclass(frozen=True)
class SplitWindow:
    """`lo <= field < hi`; lo None = open below (and, on a nullable field, holds the nulls),
    hi None = open above; field None = the whole entity (no split)."""

    field: str | None = None
    lo: dt.datetime | None = None
    hi: dt.datetime | None = None
    nullable: bool = False

    def to_properties(self) -> dict[str, str]:
        return {
            "split_field": self.field or "",
            "split_lo": _iso(self.lo),
            "split_hi": _iso(self.hi),
            "split_nullable": "true" if self.nullable else "false",
        }

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> SplitWindow:
        try:
            return cls(
                field=props.get("split_field") or None,
                lo=_parse(props.get("split_lo", "")),
                hi=_parse(props.get("split_hi", "")),
                nullable=props.get("split_nullable", "false") == "true",
            )
        except ValueError as exc:
            raise QueryError(f"bad split properties {props!r}: {exc}; pass back what plan_splits produced") from None

    def expr(self) -> Expr | None:
        """The predicate that confines a read to this window (None = no confinement)."""
        if self.field is None or (self.lo is None and self.hi is None):
            return None
        terms: list[Expr] = []
        if self.lo is not None:
            terms.append(Compare(self.field, "ge", self.lo))
        if self.hi is not None:
            below: Expr = Compare(self.field, "lt", self.hi)
            if self.lo is None and self.nullable:
                below = Or((below, IsNull(self.field)))
            terms.append(below)
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def residual_expr(self) -> Expr | None:
        """What the residual filter checks for this window: `expr()`, but keeping rows whose
        (non-nullable) field arrives null. The API already confined the window's rows with the
        pushed bounds, so a row whose field is missing or unreadable (schema drift) belongs to
        this window and to no other; dropping it would lose it from the scan."""
        confine = self.expr()
        if confine is None or self.nullable:
            return confine
        return Or((confine, IsNull(self.field)))


def _iso(t: dt.datetime | None) -> str:
    return "" if t is None else t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(text: str) -> dt.datetime | None:
    if not text:
        return None
    t = dt.datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def plan_splits(
    catalog: Catalog,
    query: Query,
    *,
    max_splits: int,
    now: dt.datetime | None = None,
    min_pages_per_split: float = MIN_PAGES_PER_SPLIT,
) -> list[SplitWindow]:
    """Windows on the entity's split field: as many as max_splits and the rate budget allow, no
    narrower than the hint's `window_days`, and, when the hint gives `rows_per_day`, each worth
    at least `min_pages_per_split` pages of the query's time range (0 = no size rule)."""
    entity = catalog.entity(query.entity)
    hint = entity.split
    whole = [SplitWindow()]
    if hint is None or hint.kind != "time" or not entity.has_field(hint.field):
        return whole
    f = entity.field(hint.field)
    if f.type.kind != "timestamp" or not (f.filter_for("ge") and f.filter_for("lt")):
        return whole  # windows the API cannot confine would each read the whole table
    n = max(1, min(max_splits, catalog.rate_limit.max_concurrency))
    lo = _parse(hint.start) if hint.start else None
    hi = _parse(hint.end) if hint.end else (now or dt.datetime.now(dt.UTC))
    q_lo, q_hi = _query_bounds(query, hint.field, f.type)
    if q_lo is not None and (lo is None or q_lo > lo):
        lo = q_lo
    if q_hi is not None and q_hi < hi:
        hi = q_hi
    if n == 1 or lo is None or hi <= lo:
        return whole
    width = dt.timedelta(days=hint.window_days)
    count = min(n, max(1, -(-(hi - lo) // width)))  # ceil without float
    if hint.rows_per_day is not None and min_pages_per_split > 0:
        count = min(count, worth_of_splits(hint.rows_per_day, hi - lo, _page_size(catalog, entity),
                                           min_pages_per_split))
    step = (hi - lo) / count
    cuts = sorted({_floor_ms(lo + step * i) for i in range(1, count)})
    if not cuts:
        return whole
    edges: list[dt.datetime | None] = [None, *cuts, None]
    return [SplitWindow(hint.field, edges[i], edges[i + 1], f.nullable) for i in range(len(edges) - 1)]


def worth_of_splits(rows_per_day: float, span: dt.timedelta, page_size: int, min_pages_per_split: float) -> int:
    """How many splits `span` is worth: its expected full pages / min_pages_per_split, at least 1."""
    expected_pages = rows_per_day * (span / dt.timedelta(days=1)) / max(1, page_size)
    return max(1, int(expected_pages // min_pages_per_split))


def _page_size(catalog: Catalog, entity: Entity) -> int:
    """The page size a scan reads with (the planner asks for the largest page the API gives)."""
    return max(1, catalog.pagination_for(entity).max_page_size)


def _floor_ms(t: dt.datetime) -> dt.datetime:
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return epoch + ((t - epoch) // _MS) * _MS


def _query_bounds(query: Query, column: str, ft: FieldType) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The query's own lower (inclusive) and upper (exclusive) bound on `column` from its top-level
    AND; `<= v` becomes `< step_up(v)`, as the planner pushes it."""
    lo: dt.datetime | None = None
    hi: dt.datetime | None = None
    for t in conjuncts(query.where):
        pairs: list[tuple[str, object]] = []
        if isinstance(t, Compare) and t.column == column:
            pairs = [(t.op, t.value)]
        elif isinstance(t, Between) and t.column == column:
            pairs = [("ge", t.low), ("le", t.high)]
        for op, v in pairs:
            if not isinstance(v, dt.datetime):
                continue
            v = v if v.tzinfo else v.replace(tzinfo=dt.UTC)
            if op in ("ge", "gt", "eq") and (lo is None or v > lo):
                lo = v
            if op in ("le", "lt", "eq"):
                end = v if op == "lt" else step_up(v, ft)
                if end is not None and (hi is None or end < hi):
                    hi = end
    return lo, hi
