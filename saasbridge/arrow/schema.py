"""Catalog types → canonical Arrow types (protocol adapters convert from these)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from saasbridge.catalog.model import Entity, FieldType
from saasbridge.errors import QueryError

TIMESTAMP = pa.timestamp("ms", tz="UTC")

_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": TIMESTAMP,
}


def arrow_type(ft: FieldType) -> pa.DataType:
    """The canonical Arrow type of a catalog field type."""
    if ft.kind in _PRIMITIVES:
        return _PRIMITIVES[ft.kind]
    if ft.kind == "decimal":
        return pa.decimal128(ft.precision or 38, ft.scale or 0)
    if ft.kind == "list":
        return pa.list_(arrow_type(_item(ft)))
    if ft.kind == "map":
        return pa.map_(pa.string(), arrow_type(_item(ft)))
    if ft.kind == "struct":
        return pa.struct([pa.field(name, arrow_type(t)) for name, t in ft.fields])
    raise QueryError(f"unsupported field type {ft.kind!r}; use one of the catalog types in docs/catalog.md")


def _item(ft: FieldType) -> FieldType:
    if ft.item is None:
        raise QueryError(f"{ft.kind} type without an item type; write e.g. {ft.kind}<string>")
    return ft.item


def entity_schema(entity: Entity, columns: Sequence[str] | None = None) -> pa.Schema:
    """The Arrow schema of `columns` of `entity` (all, in catalog order, when None).

    Every field is nullable: a value of the wrong type arrives as null, whatever the catalog says.
    """
    names = entity.column_names if columns is None else list(columns)
    return pa.schema([pa.field(n, arrow_type(entity.field(n).type), nullable=True) for n in names])
