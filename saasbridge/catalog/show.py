"""What a catalog offers, as rows for `saasbridge catalog show`: per entity its endpoints and
per column its type and what the API can push down."""

from __future__ import annotations

from dataclasses import dataclass

from saasbridge.catalog.model import Catalog, Entity, Field
from saasbridge.catalog.types import format_type

OP_SYMBOLS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "in": "IN", "contains": "LIKE %…%"}


@dataclass(frozen=True)
class ColumnRow:
    column: str
    type: str
    nullable: bool
    api_name: str
    pushdown: str  # e.g. "= country; ORDER BY asc" ("" = filtered locally only)
    writable: bool


@dataclass(frozen=True)
class EntitySummary:
    name: str
    description: str | None
    facts: list[tuple[str, str]]  # (label, value): path, fetch by id, ids, projection, …
    columns: list[ColumnRow]


def column_pushdown(entity: Entity, f: Field) -> str:
    """What the API can do for one column, in SQL-ish words."""
    parts = []
    for flt in f.filters:
        extra = f" (≤{flt.max_values})" if flt.max_values else ""
        parts.append(f"{OP_SYMBOLS[flt.op]} {flt.param}{extra}")
    if f.name in entity.path_columns:
        parts.append(f"= / IN in the path {entity.path}")
    if f.name == entity.primary_key:
        if entity.ids_param:
            parts.append(f"IN {entity.ids_param} (≤{entity.ids_max})")
        if entity.get_path:
            parts.append(f"= GET {entity.get_path}")
    if entity.sort:
        orders = [("desc" if d else "asc") for c, d, _ in entity.sort.options if c == f.name]
        if orders:
            parts.append("ORDER BY " + "/".join(orders))
    search = entity.search
    if search is not None and (search.filterable is None or f.name in search.filterable):
        parts.append(f"search {search.name_of(f.name, f.api_name)}")
    if f.name == entity.primary_key and entity.batch_read:
        parts.append(f"IN {entity.batch_read.method} {entity.batch_read.path} (≤{entity.batch_read.max_ids})")
    return "; ".join(parts)


def summarize(catalog: Catalog, entity: Entity) -> EntitySummary:
    pagination = catalog.pagination_for(entity)
    facts = [("list", f"GET {entity.path} ({pagination.style}, ≤{pagination.max_page_size}/page)")]
    if entity.path_columns:
        keys = ", ".join(entity.path_columns)
        facts.append(("scope", f"per {keys}: bound by = / IN, " + (
            f"else each row of {entity.parent.entity}" if entity.parent else "required in every query")))
    if params := catalog.params_for(entity):
        facts.append(("params", "&".join(f"{k}={v}" for k, v in params.items())))
    if entity.get_path:
        facts.append(("by id", f"GET {entity.get_path}"))
    if entity.ids_param:
        facts.append(("ids", f"{entity.ids_param}=… (≤{entity.ids_max})"))
    facts.append(("projection", entity.projection_param or "no (every field is fetched)"))
    if entity.search:
        facts.append(("search", _search_fact(entity)))
    if entity.properties:
        facts.append(("properties", f"discovered from GET {entity.properties.path} (cached "
                                    f"{entity.properties.ttl_seconds:g}s per tenant)"))
    if entity.incremental_field:
        facts.append(("incremental", entity.incremental_field))
    if entity.split:
        s = entity.split
        facts.append(("splits", f"{s.kind} on {s.field}" + (f", {s.window_days:g} days" if s.kind == "time" else "")))
    if entity.writes:
        facts.append(("writes", ", ".join(
            f"{w.op} {w.method} {w.path}" + (f" ×{w.batch_size}" if w.batch_size > 1 else "") for w in entity.writes
        )))
    columns = [
        ColumnRow(f.name, format_type(f.type), f.nullable, f.api_name, column_pushdown(entity, f), f.writable)
        for f in entity.fields
    ]
    return EntitySummary(entity.name, entity.description, facts, columns)


def _search_fact(entity: Entity) -> str:
    search = entity.search
    assert search is not None
    if search.filter is not None:
        kind = f"JSON {search.filter.shape} at {search.filter.at}: " + ", ".join(op for op, _ in search.filter.operators)
    else:
        assert search.query is not None
        kind = f"query language in {search.query.param}: " + ", ".join(op for op, _ in search.query.operators)
    cap = f"; cap {search.max_results} rows, cut on {search.cap_field}" if search.max_results else ""
    return f"{search.method} {search.path} ({kind}{cap})"


def catalog_header(catalog: Catalog) -> list[tuple[str, str]]:
    r = catalog.rate_limit
    return [
        ("catalog", f"{catalog.name}" + (f" ({catalog.title})" if catalog.title else "")),
        ("file", catalog.source_file or "-"),
        ("base_url", catalog.base_url),
        ("auth", catalog.auth.type),
        ("rate budget", f"{r.requests_per_second:g} req/s, burst {r.burst}, {r.max_concurrency} concurrent"),
    ]


def render_text(catalog: Catalog, entities: list[Entity] | None = None) -> str:
    """Plain-text rendering (used when rich is not installed, and for pipes)."""
    lines = [f"{label}: {value}" for label, value in catalog_header(catalog)]
    for entity in entities if entities is not None else catalog.entities:
        s = summarize(catalog, entity)
        lines += ["", f"== {s.name}" + (f": {s.description}" if s.description else "")]
        lines += [f"  {label}: {value}" for label, value in s.facts]
        header = ("column", "type", "null", "api name", "pushdown")
        rows = [(c.column, c.type, "yes" if c.nullable else "no", c.api_name, c.pushdown or "-") for c in s.columns]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
        for r in [header, *rows]:
            lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return "\n".join(lines) + "\n"
