"""Conversions between API records (JSON values) and SQLite rows, and validation of written values."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import orjson

from demo_saas.entities import ADDRESS_KEYS, EntitySpec, FieldSpec

_JSON_KINDS = frozenset({"string_list", "address", "string_map"})
_SQL_TYPES = {
    "string": "TEXT", "integer": "INTEGER", "number": "REAL", "boolean": "INTEGER", "date": "TEXT",
    "datetime": "INTEGER", "string_list": "TEXT", "address": "TEXT", "string_map": "TEXT",
}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sql_type(f: FieldSpec) -> str:
    return _SQL_TYPES[f.kind]


def format_ts(ms: int) -> str:
    """Epoch milliseconds → `2024-03-05T17:04:11.250Z`."""
    secs, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def parse_ts(text: str) -> int:
    """ISO-8601 date or date-time → epoch milliseconds, rounded *up* to the next whole millisecond.

    Rounding up keeps `>= since` and `< until` exact for stored millisecond values. A date-time
    without an offset is taken as UTC. Raises ValueError.
    """
    text = text.strip()
    if _DATE_RE.match(text):
        dt = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    else:
        dt = datetime.fromisoformat(text.replace("z", "Z"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return -(-micros // 1000)


def to_row_value(f: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if f.kind in _JSON_KINDS:
        return orjson.dumps(value).decode()
    if f.kind == "boolean":
        return int(value)
    if f.kind == "number" and f.decimals is not None:
        return round(float(value), f.decimals)
    if f.kind == "number":
        return float(value)
    return value


def row_converter(spec: EntitySpec):
    """A fast `record -> row tuple` function for bulk inserts (same result as `to_row_value`)."""
    names = spec.field_names
    special = [(i, f) for i, f in enumerate(spec.fields) if f.kind in _JSON_KINDS or f.kind in ("boolean", "number")]

    def convert(record: dict) -> list:
        row = [record[n] for n in names]
        for i, f in special:
            row[i] = to_row_value(f, row[i])
        return row

    return convert


def from_row_value(f: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    kind = f.kind
    if kind == "datetime":
        return format_ts(value)
    if kind in _JSON_KINDS:
        return json.loads(value)
    if kind == "boolean":
        return bool(value)
    if kind == "number":
        return round(value, f.decimals) if f.decimals is not None else float(value)
    return value


def row_to_record(spec: EntitySpec, row: tuple, fields: tuple[str, ...] | None = None) -> dict:
    """A row in `spec.fields` order → the API's JSON record (optionally projected; `id` always kept)."""
    if fields is None:
        return {f.name: from_row_value(f, v) for f, v in zip(spec.fields, row, strict=True)}
    return {f.name: from_row_value(f, v) for f, v in zip(spec.fields, row, strict=True) if f.name in fields}


def value_error(f: FieldSpec, value: Any) -> str | None:
    """Why `value` cannot be written to `f`, or None when it can."""
    if value is None:
        return None if f.nullable else f"{f.name} must not be null"
    kind = f.kind
    ok: bool
    if kind == "string":
        ok = isinstance(value, str)
        if ok and f.enum and value not in f.enum:
            return f"{f.name} must be one of {', '.join(f.enum)}"
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    elif kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value and abs(value) != float("inf")
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "date":
        ok = isinstance(value, str) and bool(_DATE_RE.match(value)) and _is_date(value)
    elif kind == "string_list":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif kind == "string_map":
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    elif kind == "address":
        ok = (
            isinstance(value, dict)
            and set(value) <= set(ADDRESS_KEYS)
            and all(v is None or isinstance(v, str) for v in value.values())
        )
        if ok:
            value.update({k: value.get(k) for k in ADDRESS_KEYS})
    else:  # datetime fields are server-maintained
        return f"{f.name} is read-only"
    return None if ok else f"{f.name} must be {_KIND_WORDS[kind]}"


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


_KIND_WORDS = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "date": "a date YYYY-MM-DD", "string_list": "a list of strings",
    "string_map": "an object of string values", "address": f"an object with string keys {', '.join(ADDRESS_KEYS)}",
}
