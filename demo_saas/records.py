"""Conversions between API records (JSON values) and SQLite rows, and validation of written values."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import orjson

from demo_saas.entities import ADDRESS_KEYS, EntitySpec, FieldSpec

_JSON_KINDS = frozenset({"string_list", "number_list", "address", "string_map"})
_SQL_TYPES = {
    "string": "TEXT", "integer": "INTEGER", "number": "REAL", "boolean": "INTEGER", "date": "TEXT",
    "datetime": "INTEGER", "string_list": "TEXT", "number_list": "TEXT", "address": "TEXT", "string_map": "TEXT",
}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sql_type(f: FieldSpec) -> str:
    return _SQL_TYPES[f.kind]


# format_ts runs once per timestamp served, so it glues precomputed parts instead of calling strftime.
_TIME_OF_DAY = [f"T{h:02d}:{m:02d}:{s:02d}." for h in range(24) for m in range(60) for s in range(60)]
_MILLIS = [f"{n:03d}Z" for n in range(1000)]


@lru_cache(maxsize=8192)
def _day(days: int) -> str:
    return datetime.fromtimestamp(days * 86_400, UTC).strftime("%Y-%m-%d")


def format_ts(ms: int) -> str:
    """Epoch milliseconds → `2024-03-05T17:04:11.250Z`."""
    days, ms_of_day = divmod(ms, 86_400_000)
    secs, millis = divmod(ms_of_day, 1000)
    return _day(days) + _TIME_OF_DAY[secs] + _MILLIS[millis]


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
    if f.kind == "datetime" and isinstance(value, str):  # a written timestamp (model log)
        return parse_ts(value)
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


def _column_converter(f: FieldSpec) -> Callable[[tuple], list] | None:
    """How a column of stored values of `f` becomes its values in a response body (None: as
    stored). Same values as `from_row_value`, except JSON columns: their stored text is orjson's
    own output (see `to_row_value`), which orjson would reproduce byte for byte after parsing it,
    so it goes into the body as a raw fragment instead of being parsed and re-serialised."""
    kind = f.kind
    if kind == "datetime":
        return lambda column: [v if v is None else format_ts(v) for v in column]
    if kind in _JSON_KINDS:
        fragment = orjson.Fragment
        return lambda column: [v if v is None else fragment(v) for v in column]
    if kind == "boolean":
        return lambda column: [v if v is None else bool(v) for v in column]
    if kind == "number" and f.decimals is not None:
        decimals = f.decimals
        return lambda column: [v if v is None else round(v, decimals) for v in column]
    if kind == "number":
        return lambda column: [v if v is None else float(v) for v in column]
    return None


@lru_cache(maxsize=256)
def page_builder(spec: EntitySpec, fields: tuple[str, ...] | None = None) -> Callable[[list[tuple]], list[dict]]:
    """A `rows -> records` function for response bodies (rows in `spec.fields` order), to be
    serialised with orjson: the records of `row_to_record`, converted a column at a time."""
    picked = [i for i, f in enumerate(spec.fields) if fields is None or f.name in fields]
    keys = tuple(spec.fields[i].name for i in picked)
    converters = [(n, conv) for n, i in enumerate(picked) if (conv := _column_converter(spec.fields[i])) is not None]

    def build(rows: list[tuple]) -> list[dict]:
        if not rows:
            return []
        every_column = list(zip(*rows, strict=True))
        columns = [every_column[i] for i in picked]
        for n, convert in converters:
            columns[n] = convert(columns[n])
        return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]

    return build


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
        ok = _finite_number(value)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "date":
        ok = isinstance(value, str) and bool(_DATE_RE.match(value)) and _is_date(value)
    elif kind == "string_list":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif kind == "number_list":
        ok = isinstance(value, list) and all(_finite_number(v) for v in value)
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
    elif kind == "datetime":  # created_at/updated_at are refused earlier, as system fields
        ok = isinstance(value, str) and _is_timestamp(value)
    else:
        return f"{f.name} is read-only"
    return None if ok else f"{f.name} must be {_KIND_WORDS[kind]}"


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value and abs(value) != float("inf")


def _is_timestamp(text: str) -> bool:
    try:
        parse_ts(text)
    except ValueError:
        return False
    return True


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


_KIND_WORDS = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "date": "a date YYYY-MM-DD", "string_list": "a list of strings",
    "number_list": "a list of finite numbers",
    "string_map": "an object of string values", "datetime": "an ISO-8601 date-time", "address": f"an object with string keys {', '.join(ADDRESS_KEYS)}",
}
