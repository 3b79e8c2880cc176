"""Arrow IPC messages as base64 strings: the two framings Athena uses, and Blocks.

A schema string is one encapsulated Schema message; a Block's `records` is one encapsulated
RecordBatch message (no schema, no end-of-stream marker) or "" for zero rows.
Modern framing (`FF FF FF FF` + length, metadata V5) is what serde v3+ uses; legacy framing
(length only, metadata V4) is what v2 and every spill object use.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pyarrow as pa

from athena_connector.errors import ProtocolError

CONTINUATION = b"\xff\xff\xff\xff"
_LEGACY_OPTIONS = pa.ipc.IpcWriteOptions(use_legacy_format=True, metadata_version=pa.ipc.MetadataVersion.V4)
_LEGACY_EOS = 4  # the legacy end-of-stream marker is a zero int32


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str = "base64 value") -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise ProtocolError(f"{what} is not valid base64") from exc


def is_modern(data: bytes) -> bool:
    """True when an IPC message uses the modern (v3+) framing."""
    return data[:4] == CONTINUATION


def _legacy_stream(schema: pa.Schema, batch: pa.RecordBatch | None = None) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=_LEGACY_OPTIONS) as writer:
        if batch is not None:
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def schema_bytes(schema: pa.Schema, *, legacy: bool = False) -> bytes:
    """One encapsulated Schema message."""
    if not legacy:
        return schema.serialize().to_pybytes()
    return _legacy_stream(schema)[:-_LEGACY_EOS]


def batch_bytes(batch: pa.RecordBatch, *, legacy: bool = False) -> bytes:
    """One encapsulated RecordBatch message (no schema in front)."""
    if not legacy:
        return batch.serialize().to_pybytes()
    schema_len = len(_legacy_stream(batch.schema)) - _LEGACY_EOS
    return _legacy_stream(batch.schema, batch)[schema_len:-_LEGACY_EOS]


def encoded_size(batch: pa.RecordBatch) -> int:
    """Bytes of the batch's RecordBatch message in the modern framing, without encoding it (the
    legacy framing's is at most as large); slices count only their own rows."""
    return pa.ipc.get_record_batch_size(batch)


def rows_within(batch: pa.RecordBatch, budget: int) -> int:
    """The most leading rows of `batch` whose message takes at most `budget` bytes (0: not one)."""
    if budget <= 0 or not batch.num_rows:
        return 0
    if encoded_size(batch) <= budget:
        return batch.num_rows
    fits, over = 0, batch.num_rows  # invariant: `fits` rows fit, `over` rows do not
    while over - fits > 1:
        middle = (fits + over) // 2
        fits, over = (middle, over) if encoded_size(batch.slice(0, middle)) <= budget else (fits, middle)
    return fits


def encode_schema(schema: pa.Schema, *, legacy: bool = False) -> str:
    return b64encode(schema_bytes(schema, legacy=legacy))


def decode_schema(text: str) -> pa.Schema:
    """A base64 Schema message (either framing) → pyarrow schema."""
    data = b64decode(text, "Arrow schema")
    try:
        return pa.ipc.read_schema(pa.py_buffer(data))
    except (pa.ArrowException, ValueError) as exc:
        raise ProtocolError(f"Arrow schema does not decode: {exc}") from exc


def decode_batch_bytes(data: bytes, schema: pa.Schema) -> pa.RecordBatch:
    if not data:
        return empty_batch(schema)
    try:
        return pa.ipc.read_record_batch(pa.py_buffer(data), schema)
    except (pa.ArrowException, ValueError) as exc:
        raise ProtocolError(f"Arrow record batch does not decode: {exc}") from exc


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    """A zero-row batch of `schema`."""
    return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)


def block_bytes(batch: pa.RecordBatch, *, legacy: bool = False) -> bytes:
    """What a Block's `records` holds before base64: the RecordBatch message, or b"" for zero rows."""
    return batch_bytes(batch, legacy=legacy) if batch.num_rows else b""


def encode_block(
    batch: pa.RecordBatch, *, legacy: bool = False, allocator_id: str | None = None, records: bytes | None = None
) -> dict[str, Any]:
    """A Block `{aId, schema, records}`; `records` is "" for zero rows (as the SDK writes it).
    `records` may be given as the batch's `block_bytes` when the caller has them already."""
    data = block_bytes(batch, legacy=legacy) if records is None else records
    return {
        "aId": allocator_id or str(uuid.uuid4()),
        "schema": encode_schema(batch.schema, legacy=legacy),
        "records": b64encode(data) if data else "",
    }


def decode_block(block: dict[str, Any]) -> pa.RecordBatch:
    """A Block dict → RecordBatch (zero rows when `records` is empty)."""
    if not isinstance(block, dict) or "schema" not in block:
        raise ProtocolError("a Block must be an object with 'schema' and 'records'")
    schema = decode_schema(block["schema"])
    records = block.get("records") or ""
    return decode_batch_bytes(b64decode(records, "Block records") if records else b"", schema)
