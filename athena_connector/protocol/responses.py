"""Responses: strict building (`@type` first, the SDK's exact field order, nothing extra) and
lenient parsing (for the local engine, which reads the connector's answers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from athena_connector.errors import ProtocolError
from athena_connector.protocol import ipc
from athena_connector.protocol.model import EncryptionKey, SpillLocation, Split, TableName
from athena_connector.protocol.requests import (
    encryption_key_json,
    parse_encryption_key,
    parse_spill_location,
    parse_split,
    parse_table_name,
    spill_location_json,
    split_json,
    table_name_json,
)

CAPABILITIES = 24  # "explicit, versioned serialization" (FederationCapabilities)
SERDE_VERSION = 6  # highest version fully implemented; queryPlan accepted and ignored


def _tn(t: TableName) -> dict[str, str]:
    return table_name_json(t.schema_name, t.table_name)


def ping_response(catalog_name: str, query_id: str, source_type: str = "saasbridge", *,
                  capabilities: int = CAPABILITIES, serde_version: int = SERDE_VERSION) -> dict[str, Any]:
    return {"@type": "PingResponse", "catalogName": catalog_name, "queryId": query_id, "sourceType": source_type,
            "capabilities": capabilities, "serDeVersion": serde_version}


def list_schemas_response(catalog_name: str, schemas: Sequence[str]) -> dict[str, Any]:
    return {"@type": "ListSchemasResponse", "catalogName": catalog_name, "schemas": list(schemas)}


def list_tables_response(catalog_name: str, tables: Sequence[TableName], next_token: str | None) -> dict[str, Any]:
    # `tables` comes before `catalogName` here, unlike every other response.
    return {"@type": "ListTablesResponse", "tables": [_tn(t) for t in tables], "catalogName": catalog_name,
            "nextToken": next_token}


def get_table_response(catalog_name: str, table_name: TableName, schema: pa.Schema,
                       partition_columns: Sequence[str] = (), *, legacy: bool = False) -> dict[str, Any]:
    return {"@type": "GetTableResponse", "catalogName": catalog_name, "tableName": _tn(table_name),
            "schema": ipc.encode_schema(schema, legacy=legacy), "partitionColumns": list(partition_columns)}


def get_table_layout_response(catalog_name: str, table_name: TableName, partitions: pa.RecordBatch, *,
                              legacy: bool = False) -> dict[str, Any]:
    return {"@type": "GetTableLayoutResponse", "catalogName": catalog_name, "tableName": _tn(table_name),
            "partitions": ipc.encode_block(partitions, legacy=legacy)}


def get_splits_response(catalog_name: str, splits: Sequence[Split], continuation_token: str | None
                        ) -> dict[str, Any]:
    return {"@type": "GetSplitsResponse", "catalogName": catalog_name, "splits": [split_json(s) for s in splits],
            "continuationToken": continuation_token}


def read_records_response(catalog_name: str, batch: pa.RecordBatch, *, legacy: bool = False,
                          records: bytes | None = None) -> dict[str, Any]:
    """`records`: the batch's `ipc.block_bytes`, when the caller encoded them already (to measure)."""
    return {"@type": "ReadRecordsResponse", "catalogName": catalog_name,
            "records": ipc.encode_block(batch, legacy=legacy, records=records)}


def remote_read_records_response(catalog_name: str, schema: pa.Schema, remote_blocks: Sequence[SpillLocation],
                                 encryption_key: EncryptionKey | None, *, legacy: bool = False) -> dict[str, Any]:
    return {"@type": "RemoteReadRecordsResponse", "catalogName": catalog_name,
            "schema": ipc.encode_schema(schema, legacy=legacy),
            "remoteBlocks": [spill_location_json(b) for b in remote_blocks],
            "encryptionKey": encryption_key_json(encryption_key)}


def capability(sub_type: str, properties: Sequence[str] = ()) -> dict[str, Any]:
    return {"subType": sub_type, "properties": list(properties)}


def get_data_source_capabilities_response(catalog_name: str, capabilities: Mapping[str, Sequence[dict[str, Any]]]
                                          ) -> dict[str, Any]:
    return {"@type": "GetDataSourceCapabilitiesResponse", "catalogName": catalog_name,
            "capabilities": {k: [capability(c["subType"], c.get("properties", ())) for c in v]
                             for k, v in capabilities.items()}}


def user_defined_function_response(batch: pa.RecordBatch, method_name: str, *, legacy: bool = False
                                   ) -> dict[str, Any]:
    return {"@type": "UserDefinedFunctionResponse", "records": ipc.encode_block(batch, legacy=legacy),
            "methodName": method_name}


# ---------------------------------------------------------------- parsing (engine side)


def parse_response(obj: Any) -> dict[str, Any]:
    """A response with its Arrow and typed parts decoded: `schema` → pa.Schema, Blocks
    (`records`, `partitions`) → RecordBatch, `splits` → [Split], `remoteBlocks` → [SpillLocation],
    `encryptionKey` → EncryptionKey | None, `tableName`/`tables` → TableName. Other keys as sent."""
    if not isinstance(obj, dict) or not isinstance(obj.get("@type"), str):
        if isinstance(obj, dict) and "errorMessage" in obj:
            raise ProtocolError(f"the connector failed: [{obj.get('errorType')}] {obj.get('errorMessage')}")
        raise ProtocolError("a response must be an object with '@type'")
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "schema" and isinstance(value, str):
            out[key] = ipc.decode_schema(value)
        elif key in ("records", "partitions") and isinstance(value, dict):
            out[key] = ipc.decode_block(value)
        elif key == "splits":
            out[key] = [parse_split(s) for s in value]
        elif key == "remoteBlocks":
            out[key] = [parse_spill_location(b) for b in value]
        elif key == "encryptionKey":
            out[key] = parse_encryption_key(value)
        elif key == "tableName":
            out[key] = parse_table_name(value)
        elif key == "tables":
            out[key] = [parse_table_name(t) for t in value]
        else:
            out[key] = value
    return out
