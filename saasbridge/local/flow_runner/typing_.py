"""Typed columns from DescribeEntity: each field's AppFlow dataType (refined by its dataTypeLabel,
which carries the catalog spelling such as `decimal(18,2)`) → an Arrow type, and AppFlow JSON
values → Python values of that type. A value that does not fit is an error, never a silent null."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from saasbridge.errors import SaasBridgeError

_BY_DATA_TYPE = {
    "String": pa.string(),
    "Integer": pa.int32(),
    "Short": pa.int16(),
    "Long": pa.int64(),
    "BigInteger": pa.decimal128(38, 0),
    "Float": pa.float32(),
    "Double": pa.float64(),
    "BigDecimal": pa.decimal128(38, 9),
    "Boolean": pa.bool_(),
    "Date": pa.date32(),
    "DateTime": pa.timestamp("ms", tz="UTC"),
    "ByteArray": pa.binary(),
}


class ValueTypeError(SaasBridgeError):
    """A record value does not match the field type DescribeEntity declared."""


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # AppFlow dataType
    arrow: pa.DataType
    is_primary_key: bool
    is_incremental: bool


def arrow_type_for(field: dict) -> pa.DataType:
    data_type = field.get("dataType")
    label = field.get("dataTypeLabel")
    if label:
        from saasbridge.arrow.schema import arrow_type
        from saasbridge.catalog.types import parse_type

        try:
            return arrow_type(parse_type(label))
        except Exception:  # a label that is not a catalog type spelling: fall back on dataType
            pass
    if data_type in _BY_DATA_TYPE:
        return _BY_DATA_TYPE[data_type]
    return pa.string()  # Struct/Map/List without a usable label: kept as JSON text


def columns_of(entity_definition: dict, selected: list[str] | None = None) -> list[Column]:
    fields = {f["fieldName"]: f for f in entity_definition.get("fields") or []}
    names = selected or list(fields)
    out = []
    for name in names:
        f = fields[name]
        read = f.get("readProperties") or {}
        out.append(
            Column(
                name,
                f.get("dataType", "String"),
                arrow_type_for(f),
                bool(f.get("isPrimaryKey")),
                bool(read.get("isTimestampFieldForIncrementalQueries")),
            )
        )
    return out


def parse_timestamp(value: Any) -> dt.datetime:
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def converter(t: pa.DataType) -> Callable[[Any], Any]:
    """A function turning one JSON value into a Python value Arrow accepts for `t`."""
    if pa.types.is_string(t):
        return lambda v: v if isinstance(v, str) else json.dumps(v, default=str)
    if pa.types.is_boolean(t):

        def to_bool(v):
            if isinstance(v, bool):
                return v
            if isinstance(v, str) and v.lower() in ("true", "false"):
                return v.lower() == "true"
            raise ValueError(f"{v!r} is not a boolean")

        return to_bool
    if pa.types.is_integer(t):

        def to_int(v):
            if isinstance(v, bool) or Decimal(v) != Decimal(v).to_integral_value():
                raise ValueError(f"{v!r} is not an integer")
            return int(v)

        return to_int
    if pa.types.is_floating(t):
        return lambda v: float(v) if not isinstance(v, bool) else _raise(v, "number")
    if pa.types.is_decimal(t):
        return lambda v: Decimal(str(v)) if not isinstance(v, bool) else _raise(v, "decimal")
    if pa.types.is_date(t):
        return lambda v: dt.date.fromisoformat(str(v)[:10])
    if pa.types.is_timestamp(t):
        return parse_timestamp
    if pa.types.is_binary(t):
        import base64

        return lambda v: base64.b64decode(v)
    if pa.types.is_list(t):
        item = converter(t.value_type)
        return lambda v: [None if x is None else item(x) for x in v]
    if pa.types.is_map(t):
        item = converter(t.item_type)
        return lambda v: [(str(k), None if x is None else item(x)) for k, x in v.items()]
    if pa.types.is_struct(t):
        subs = {t.field(i).name: converter(t.field(i).type) for i in range(t.num_fields)}
        return lambda v: {k: (None if v.get(k) is None else c(v.get(k))) for k, c in subs.items()}
    return lambda v: v


def _raise(v: Any, what: str):
    raise ValueError(f"{v!r} is not a {what}")


class TableBuilder:
    """AppFlow records → a typed Arrow table with the run's columns."""

    def __init__(self, columns: list[Column]):
        self.columns = columns
        self.schema = pa.schema([pa.field(c.name, c.arrow) for c in columns])
        self._convert = [converter(c.arrow) for c in columns]

    def table(self, records: list[dict]) -> pa.Table:
        arrays = []
        pk = next((c.name for c in self.columns if c.is_primary_key), None)
        for col, conv in zip(self.columns, self._convert, strict=True):
            values = []
            for rec in records:
                v = rec.get(col.name)
                try:
                    values.append(None if v is None else conv(v))
                except (ValueError, TypeError, ArithmeticError, AttributeError) as exc:
                    where = f" (record {pk}={rec.get(pk)!r})" if pk else ""
                    raise ValueTypeError(
                        f"field {col.name}{where}: {str(exc)[:120]} does not fit type {col.arrow}"
                    ) from None
            try:
                arrays.append(pa.array(values, type=col.arrow))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ValueTypeError(f"field {col.name}: {str(exc).splitlines()[0][:160]}") from None
        return pa.Table.from_arrays(arrays, schema=self.schema)
