"""Python values ↔ one-column Arrow arrays (the `col1` value blocks of markers and constants).

Athena's TIMESTAMP travels as `date64` (epoch milliseconds with time of day); pyarrow would turn
such values into dates, so they are read as epoch millis and become timezone-aware UTC
datetimes, the IR's timestamp values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


def epoch_millis(value: dt.datetime | dt.date) -> int:
    """Epoch milliseconds of a datetime (naive = UTC) or a date (midnight UTC)."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - EPOCH) // _MS


def from_epoch_millis(ms: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=ms)


def array_to_python(arr: pa.Array | pa.ChunkedArray) -> list[Any]:
    """Values of an array as IR values (timestamps and date64 → aware UTC datetimes)."""
    t = arr.type
    if pa.types.is_date64(t):
        return [None if m is None else from_epoch_millis(m) for m in arr.cast(pa.int64()).to_pylist()]
    if pa.types.is_timestamp(t):
        raw = arr.cast(pa.int64()).to_pylist()
        if t.unit in ("us", "ns"):
            div = 1000 if t.unit == "us" else 1_000_000
            return [None if v is None else EPOCH + dt.timedelta(microseconds=v * 1000 // div) for v in raw]
        factor = 1000 if t.unit == "s" else 1
        return [None if v is None else from_epoch_millis(v * factor) for v in raw]
    return arr.to_pylist()


def python_to_array(values: Sequence[Any], t: pa.DataType) -> pa.Array:
    """IR values → an array of type `t` (date64 and timestamps from datetimes or dates)."""
    if pa.types.is_date64(t):
        return pa.array([None if v is None else epoch_millis(v) for v in values], pa.int64()).cast(pa.date64())
    if pa.types.is_timestamp(t):
        ms = [None if v is None else epoch_millis(v) for v in values]
        return pa.array(ms, pa.int64()).cast(pa.timestamp("ms", tz=t.tz)).cast(t)
    return pa.array(list(values), type=t)


def value_batch(values: Sequence[Any], t: pa.DataType) -> pa.RecordBatch:
    """The one-column `col1` batch that carries marker and constant values."""
    return pa.RecordBatch.from_arrays([python_to_array(values, t)], names=["col1"])
