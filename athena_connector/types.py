"""Canonical core Arrow types → the types Athena accepts from a connector.

The only difference is SQL TIMESTAMP: the core uses `timestamp("ms", tz="UTC")`, Athena needs
`Date(MILLISECOND)` (date64 holding epoch millis with time of day), at any nesting depth.
Everything else the core produces (string, int32/int64, float64, decimal128, bool, date32,
struct, list, map) is already on Athena's supported-type list.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from saasbridge.arrow.schema import entity_schema
from saasbridge.catalog.model import Entity


def _map_type(t: pa.DataType, leaf: pa.DataType) -> pa.DataType:
    """`t` with every timestamp replaced by `leaf`."""
    if pa.types.is_timestamp(t):
        return leaf
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_map_type(f.type, leaf)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(_map_type(t.key_type, leaf), _map_type(t.item_type, leaf))
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_map_type(t.value_type, leaf)))
    return t


def athena_type(t: pa.DataType) -> pa.DataType:
    return _map_type(t, pa.date64())


def athena_schema(entity: Entity, columns: Sequence[str] | None = None) -> pa.Schema:
    """The Athena schema of an entity (all columns, or `columns` in that order)."""
    schema = entity_schema(entity, columns)
    return pa.schema([f.with_type(athena_type(f.type)) for f in schema])


def to_athena_array(arr: pa.Array) -> pa.Array:
    target = athena_type(arr.type)
    if target == arr.type:
        return arr
    # timestamp → int64 → date64 keeps the milliseconds (a direct cast would truncate to days)
    return arr.cast(_map_type(arr.type, pa.int64())).cast(target)


def to_athena_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A core batch with Athena's types (zero-copy for columns without timestamps)."""
    if batch.num_columns == 0:
        return batch
    arrays = [to_athena_array(c) for c in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(
        [f.with_type(a.type) for f, a in zip(batch.schema, arrays, strict=True)]))
