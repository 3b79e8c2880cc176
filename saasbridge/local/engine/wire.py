"""Athena's side of the federation wire protocol: the requests the engine sends and the
responses it reads, as plain JSON-ready dicts built in the exact field order of the SDK serde.

The connector is the other side; this module never imports it, so the engine is an
independent check of the connector's wire format.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from saasbridge.errors import QueryError

CAPABILITIES = 24
IDENTITY = {
    "id": "UNKNOWN",
    "principal": "UNKNOWN",
    "account": "000000000000",
    "arn": "arn:aws:sts::000000000000:assumed-role/saasbridge-local/engine",
    "tags": {},
    "groups": [],
    "configOptions": {},
}
DEFAULT_MAX_BLOCK_SIZE = 16_000_000
DEFAULT_MAX_INLINE_BLOCK_SIZE = 3_465_000  # what a real Athena sends (see athena-protocol.md 6.1)


# ---------------------------------------------------------------- Arrow framing


def encode_schema(schema: pa.Schema, serde_version: int) -> str:
    return _b64(_frame(schema.serialize().to_pybytes(), serde_version))


def encode_batch(batch: pa.RecordBatch, serde_version: int) -> str:
    if batch.num_rows == 0:
        return ""
    return _b64(_frame(batch.serialize().to_pybytes(), serde_version))


def decode_schema(text: str) -> pa.Schema:
    try:
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))
    except (ValueError, pa.ArrowInvalid) as exc:
        raise QueryError(f"the connector sent an unreadable Arrow schema ({exc}); check its serde") from exc


def decode_batch(data: bytes | str, schema: pa.Schema) -> pa.RecordBatch:
    """One encapsulated RecordBatch message (either framing) read with `schema`."""
    raw = base64.b64decode(data) if isinstance(data, str) else data
    if not raw:
        return pa.RecordBatch.from_pylist([], schema=schema)
    try:
        return pa.ipc.read_record_batch(pa.py_buffer(raw), schema)
    except (ValueError, pa.ArrowInvalid) as exc:
        raise QueryError(f"the connector sent an unreadable Arrow record batch ({exc})") from exc


def decode_block(block: dict) -> pa.RecordBatch:
    schema = decode_schema(block["schema"])
    return decode_batch(block.get("records") or b"", schema)


def encode_block(batch: pa.RecordBatch, serde_version: int) -> dict:
    return {
        "aId": str(uuid.uuid4()),
        "schema": encode_schema(batch.schema, serde_version),
        "records": encode_batch(batch, serde_version),
    }


def _frame(message: bytes, serde_version: int) -> bytes:
    # pyarrow writes the modern framing (0xFFFFFFFF, length); v2 wants the legacy one (length only).
    if serde_version <= 2 and message[:4] == b"\xff\xff\xff\xff":
        return message[4:]
    return message


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------- Arrow type JSON


def arrow_type_json(t: pa.DataType) -> dict:
    """The `ArrowType` JSON used by value sets (serde v2 ArrowTypeSerDe)."""
    if pa.types.is_integer(t):
        return {"@type": "Int", "bitWidth": t.bit_width, "isSigned": pa.types.is_signed_integer(t)}
    if pa.types.is_floating(t):
        precision = {16: "HALF", 32: "SINGLE", 64: "DOUBLE"}[t.bit_width]
        return {"@type": "FloatingPoint", "precision": precision}
    if pa.types.is_string(t):
        return {"@type": "Utf8"}
    if pa.types.is_binary(t):
        return {"@type": "Binary"}
    if pa.types.is_boolean(t):
        return {"@type": "Bool"}
    if pa.types.is_decimal(t):
        return {"@type": "Decimal", "precision": t.precision, "scale": t.scale}
    if pa.types.is_date32(t):
        return {"@type": "Date", "unit": "DAY"}
    if pa.types.is_date64(t):
        return {"@type": "Date", "unit": "MILLISECOND"}
    if pa.types.is_timestamp(t):
        unit = {"s": "SECOND", "ms": "MILLISECOND", "us": "MICROSECOND", "ns": "NANOSECOND"}[t.unit]
        return {"@type": "Timestamp", "unit": unit, "timezone": t.tz}
    if pa.types.is_struct(t):
        return {"@type": "Struct"}
    if pa.types.is_map(t):
        return {"@type": "Map"}
    if pa.types.is_list(t):
        return {"@type": "List"}
    if pa.types.is_null(t):
        return {"@type": "Null"}
    raise QueryError(f"no Athena wire type for Arrow type {t}")


# ---------------------------------------------------------------- requests


@dataclass
class Session:
    """What every request of one query shares: ids, catalog and the negotiated serde version."""

    catalog_name: str
    query_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    serde_version: int = 4


def _envelope(kind: str, s: Session) -> dict:
    return {"@type": kind, "identity": dict(IDENTITY), "queryId": s.query_id, "catalogName": s.catalog_name}


def _table_name(schema: str, table: str) -> dict:
    return {"schemaName": schema, "tableName": table}


def ping_request(s: Session) -> dict:
    # Ping puts catalogName before queryId, unlike every metadata request.
    return {
        "@type": "PingRequest",
        "identity": dict(IDENTITY),
        "catalogName": s.catalog_name,
        "queryId": s.query_id,
    }


def list_schemas_request(s: Session) -> dict:
    return _envelope("ListSchemasRequest", s)


def list_tables_request(s: Session, schema: str, next_token: str | None, page_size: int = -1) -> dict:
    msg = _envelope("ListTablesRequest", s)
    msg.update(schemaName=schema, nextToken=next_token, pageSize=page_size)
    return msg


def get_table_request(s: Session, schema: str, table: str) -> dict:
    msg = _envelope("GetTableRequest", s)
    msg["tableName"] = _table_name(schema, table)
    if s.serde_version >= 5:
        msg["queryPassthroughArguments"] = {}
    return msg


def capabilities_request(s: Session) -> dict:
    return _envelope("GetDataSourceCapabilitiesRequest", s)


@dataclass(frozen=True)
class OrderField:
    column: str
    direction: str  # ASC_NULLS_FIRST | ASC_NULLS_LAST | DESC_NULLS_FIRST | DESC_NULLS_LAST


def constraints(
    s: Session, summary: dict[str, dict], *, limit: int | None = None, order_by: tuple[OrderField, ...] = ()
) -> dict:
    """The constraints object in the shape of the negotiated serde version."""
    out: dict[str, Any] = {"summary": summary}
    if s.serde_version >= 4:
        out["expression"] = []
        out["orderByClause"] = [{"columnName": o.column, "direction": o.direction} for o in order_by]
        out["limit"] = -1 if limit is None else limit
    if s.serde_version >= 5:
        out["queryPassthroughArguments"] = {}
    if s.serde_version >= 6:
        out["queryPlan"] = None
    return out


def get_table_layout_request(
    s: Session, schema: str, table: str, cons: dict, table_schema: pa.Schema, partition_columns: list[str]
) -> dict:
    msg = _envelope("GetTableLayoutRequest", s)
    msg.update(
        tableName=_table_name(schema, table),
        constraints=cons,
        schema=encode_schema(table_schema, s.serde_version),
        partitionColumns=list(partition_columns),
    )
    return msg


def get_splits_request(
    s: Session,
    schema: str,
    table: str,
    partitions: dict,
    partition_columns: list[str],
    cons: dict,
    continuation_token: str | None,
) -> dict:
    msg = _envelope("GetSplitsRequest", s)
    msg.update(
        tableName=_table_name(schema, table),
        partitions=partitions,
        partitionColumns=list(partition_columns),
        constraints=cons,
        continuationToken=continuation_token,
    )
    return msg


def read_records_request(
    s: Session,
    schema: str,
    table: str,
    projection: pa.Schema,
    split: dict,
    cons: dict,
    *,
    max_block_size: int = DEFAULT_MAX_BLOCK_SIZE,
    max_inline_block_size: int = DEFAULT_MAX_INLINE_BLOCK_SIZE,
) -> dict:
    msg = _envelope("ReadRecordsRequest", s)
    msg.update(
        tableName=_table_name(schema, table),
        schema=encode_schema(projection, s.serde_version),
        split=split,
        constraints=cons,
        maxBlockSize=str(max_block_size),
        maxInlineBlockSize=str(max_inline_block_size),
    )
    return msg


# ---------------------------------------------------------------- responses


def expect(response: Any, *types: str) -> dict:
    """`response` as a dict whose `@type` is one of `types`, or a clear QueryError."""
    if not isinstance(response, dict) or response.get("@type") not in types:
        got = response.get("@type") if isinstance(response, dict) else type(response).__name__
        raise QueryError(f"the connector answered {got!r} where {' or '.join(types)} was expected")
    return response


@dataclass(frozen=True)
class Capabilities:
    """The optimizations a connector advertised in GetDataSourceCapabilities."""

    raw: dict[str, list[dict]]

    def has(self, name: str, sub_type: str) -> bool:
        return any(item.get("subType") == sub_type for item in self.raw.get(name, []))

    @property
    def filter_pushdown(self) -> bool:
        return bool(self.raw.get("supports_filter_pushdown"))

    @property
    def limit_pushdown(self) -> bool:
        return self.has("supports_limit_pushdown", "integer_constant")

    @property
    def top_n_pushdown(self) -> bool:
        return self.has("supports_top_n_pushdown", "SUPPORTS_ORDER_BY")

    def describe(self) -> list[str]:
        return [f"{k}:{','.join(i.get('subType', '?') for i in v)}" for k, v in sorted(self.raw.items())]
