"""Catalog types ↔ AppFlow data types, per-field filter operators, and records as AppFlow JSON strings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import orjson

from appflow_connector.filters import FilterField
from saasbridge.catalog.model import Entity, Field, FieldType

APPFLOW_TYPE = {
    "string": "String",
    "int32": "Integer",
    "int64": "Long",
    "double": "Double",
    "decimal": "BigDecimal",
    "boolean": "Boolean",
    "date": "Date",
    "timestamp": "DateTime",
    "list": "List",
    "struct": "Struct",
    "map": "Map",
}
_ORDERED = ("EQUAL_TO", "NOT_EQUAL_TO", "LESS_THAN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN",
            "GREATER_THAN_OR_EQUAL_TO", "BETWEEN")  # fmt: skip
# What the residual filter enforces exactly for each kind (the API only ever saves requests).
_OPERATORS: dict[str, tuple[str, ...]] = {
    "string": ("CONTAINS", "EQUAL_TO", "NOT_EQUAL_TO"),
    "int32": _ORDERED,
    "int64": _ORDERED,
    "double": _ORDERED,
    "decimal": _ORDERED,
    "date": _ORDERED,
    "timestamp": _ORDERED,
    "boolean": ("EQUAL_TO", "NOT_EQUAL_TO"),
}


def type_label(ft: FieldType) -> str:
    """The catalog spelling of a type (`decimal(12,2)`, `list<string>`), shown as AppFlow's dataTypeLabel."""
    if ft.kind == "decimal":
        return f"decimal({ft.precision},{ft.scale})"
    if ft.kind == "list" and ft.item is not None:
        return f"list<{type_label(ft.item)}>"
    if ft.kind == "map" and ft.item is not None:
        return f"map<string,{type_label(ft.item)}>"
    if ft.kind == "struct":
        return "struct<" + ",".join(f"{n}:{type_label(t)}" for n, t in ft.fields) + ">"
    return ft.kind


def filter_operators(field: Field) -> list[str]:
    return list(_OPERATORS.get(field.type.kind, ()))


def filter_fields(entity: Entity) -> dict[str, FilterField]:
    """The fields a filter expression may name, keyed by AppFlow fieldName (= column name)."""
    return {
        f.name: FilterField(f.name, f.name, f.type, frozenset(filter_operators(f)))
        for f in entity.fields
        if filter_operators(f)
    }


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        # A JSON number with exactly the digits the API sent (no float rounding).
        return orjson.Fragment(format(value, "f").encode())
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return str(value)


def record_json(row: dict[str, Any]) -> str:
    """One record as AppFlow wants it: a JSON object serialized to a string."""
    return orjson.dumps({k: _json_value(v) for k, v in row.items()}).decode()
