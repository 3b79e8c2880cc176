"""Arrow record batches → AppFlow record strings, column by column.

Produces exactly what `types.record_json` makes of `batch.to_pylist(maps_as_pydicts="lossy")` rows (that per-value path
stays the reference), but formats each column once per page in C where it can: timestamps, dates
and decimals with a cast to text (decimals then travel as `orjson.Fragment`s, so they keep their
digits), plain columns with one `to_pylist`. A column the
fast paths do not cover (or whose values they would spell differently, such as years outside
1000–9999) takes the per-value path, so the output never depends on which path ran.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from appflow_connector.types import _json_value

_EPOCH = dt.date(1970, 1, 1)
# strftime/cast spell 4-digit years exactly as Python does (Python drops the zero padding below 1000).
# Beyond 9999 the per-value path fails as before (Python has no such dates).
_MIN_DAY = (dt.date(1000, 1, 1) - _EPOCH).days
_END_DAY = (dt.date(9999, 12, 31) - _EPOCH).days + 1
_MIN_MS, _END_MS = _MIN_DAY * 86_400_000, _END_DAY * 86_400_000
_TIMESTAMP_MS = pa.timestamp("ms")


def record_texts(batch: pa.RecordBatch, columns: Sequence[str]) -> list[str]:
    """The rows of `batch` as AppFlow records (JSON object strings) holding `columns`, in order."""
    names = list(columns)
    if not names:
        return ["{}"] * batch.num_rows
    values = [json_values(batch.column(name)) for name in names]
    dumps = orjson.dumps
    return [dumps(dict(zip(names, row, strict=True))).decode() for row in zip(*values, strict=True)]


def json_values(array: pa.Array) -> list[Any]:
    """The values of `array` as orjson serializes them into a record (None for null)."""
    t = array.type
    if _plain(t):
        return array.to_pylist()  # already JSON values: strings, numbers, booleans, dicts and lists of them
    if pa.types.is_timestamp(t):
        return _timestamps(array)
    if pa.types.is_date32(t):
        return _dates(array)
    if pa.types.is_decimal(t):
        return _decimals(array)
    if pa.types.is_struct(t):
        return _structs(array)
    if pa.types.is_map(t):
        return _maps(array)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _lists(array)
    return _per_value(array)


def _plain(t: pa.DataType) -> bool:
    """Does `to_pylist` already give what the record holds (no formatting at any depth)?"""
    if (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
            or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t)):  # fmt: skip
        return True
    if pa.types.is_struct(t):
        return all(_plain(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _plain(t.value_type)
    return False  # maps (pairs become objects), temporal, decimal, binary, …


def _per_value(array: pa.Array) -> list[Any]:
    return [_json_value(v) for v in array.to_pylist(maps_as_pydicts="lossy")]


def _timestamps(array: pa.Array) -> list[Any]:
    if array.type.unit != "ms":
        return _per_value(array)
    # The stored values are UTC milliseconds whatever the zone (naive ones are read as UTC, as the
    # per-value path does); viewed as naive, casting to text skips the zone lookup (5× faster).
    utc = array.view(_TIMESTAMP_MS)
    if not _years_ok(utc.view(pa.int64()), _MIN_MS, _END_MS):
        return _per_value(array)
    text = pc.replace_substring(utc.cast(pa.string()), " ", "T", max_replacements=1)
    return pc.binary_join_element_wise(text, "Z", "").to_pylist()  # "YYYY-MM-DDTHH:MM:SS.mmmZ"


def _dates(array: pa.Array) -> list[Any]:
    if not _years_ok(array.view(pa.int32()), _MIN_DAY, _END_DAY):
        return _per_value(array)
    return array.cast(pa.string()).to_pylist()


def _years_ok(values: pa.Array, low: int, end: int) -> bool:
    """Are all values within years 1000–9999 (where Arrow spells them as Python does)?"""
    bounds = pc.min_max(values).as_py()
    return bounds["min"] is None or (bounds["min"] >= low and bounds["max"] < end)


def _decimals(array: pa.Array) -> list[Any]:
    fragment = orjson.Fragment
    out: list[Any] = array.cast(pa.string()).to_pylist()
    for i, text in enumerate(out):
        if text is not None:
            # Arrow writes tiny or negative-scale values in scientific notation; the record spells them out.
            out[i] = fragment(format(Decimal(text), "f") if "E" in text or "e" in text else text)
    return out


def _structs(array: pa.Array) -> list[Any]:
    t = array.type
    names = [t.field(i).name for i in range(t.num_fields)]
    if not names or len(set(names)) != len(names):
        return _per_value(array)
    children = [json_values(child) for child in array.flatten()]
    out: list[Any] = [dict(zip(names, row, strict=True)) for row in zip(*children, strict=True)]
    return _with_nulls(array, out)


def _lists(array: pa.Array) -> list[Any]:
    offsets, low, high = _offsets(array)
    items = json_values(array.values.slice(low, high - low))
    return _split(array, offsets, items, lambda run: run)


def _maps(array: pa.Array) -> list[Any]:
    if not (pa.types.is_string(array.type.key_type) or pa.types.is_large_string(array.type.key_type)):
        return _per_value(array)
    offsets, low, high = _offsets(array)
    keys = array.keys.slice(low, high - low).to_pylist()
    items = json_values(array.items.slice(low, high - low))
    pairs = list(zip(keys, items, strict=True))
    return _split(array, offsets, pairs, dict)


def _offsets(array: pa.Array) -> tuple[list[int], int, int]:
    """A list/map slice's own offsets into its whole child (`.values`, `.keys` ignore the slice)."""
    offsets = array.offsets.to_pylist()
    return offsets, offsets[0], offsets[-1]


def _split(array: pa.Array, offsets: list[int], values: list[Any], build: Any) -> list[Any]:
    """Each slot's run of `values` passed to `build`; None for null slots."""
    low = offsets[0]
    out = [build(values[offsets[i] - low:offsets[i + 1] - low]) for i in range(len(array))]
    return _with_nulls(array, out)


def _with_nulls(array: pa.Array, out: list[Any]) -> list[Any]:
    if array.null_count:
        for i, valid in enumerate(array.is_valid().to_pylist()):
            if not valid:
                out[i] = None
    return out
