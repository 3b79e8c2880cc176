"""Requests: lenient parsing (any key order, unknown keys ignored, old identity shapes, version
detected per request) and strict building (what Athena sends, for the local engine and tests)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from athena_connector.errors import ProtocolError
from athena_connector.protocol import ipc
from athena_connector.protocol.expressions import Expression, expression_from_json, expression_to_json
from athena_connector.protocol.model import (
    DIRECTIONS,
    NO_LIMIT,
    UNLIMITED_PAGE_SIZE,
    Constraints,
    EncryptionKey,
    Identity,
    OrderByField,
    QueryPlan,
    Request,
    SpillLocation,
    Split,
    TableName,
)
from athena_connector.protocol.value_sets import ValueSet, value_set_from_json, value_set_to_json

REQUEST_TYPES = (
    "PingRequest",
    "ListSchemasRequest",
    "ListTablesRequest",
    "GetTableRequest",
    "GetTableLayoutRequest",
    "GetSplitsRequest",
    "ReadRecordsRequest",
    "GetDataSourceCapabilitiesRequest",
    "UserDefinedFunctionRequest",
)

# ---------------------------------------------------------------- small lenient readers


def _str(obj: Mapping[str, Any], key: str, what: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ProtocolError(f"{what}: missing {key!r}")
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"{what}: {key!r} must be a string")
    return value


def _int(value: Any, what: str) -> int:
    """An integer that may arrive as a JSON number or a JSON string (maxBlockSize)."""
    if isinstance(value, bool):
        raise ProtocolError(f"{what} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ProtocolError(f"{what} must be an integer, got {value!r:.40}")


def _str_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be an object of strings")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def parse_identity(obj: Any) -> Identity:
    if not isinstance(obj, dict):
        return Identity()
    groups = obj.get("groups") or []
    return Identity(
        id=str(obj.get("id") or "UNKNOWN"),
        principal=str(obj.get("principal") or "UNKNOWN"),
        account=obj.get("account"),
        arn=obj.get("arn"),
        tags=_str_map(obj.get("tags"), "identity.tags"),
        groups=tuple(str(g) for g in groups) if isinstance(groups, list) else (),
        config_options=_str_map(obj.get("configOptions"), "identity.configOptions"),
    )


def parse_table_name(obj: Any) -> TableName:
    if not isinstance(obj, dict):
        raise ProtocolError("tableName must be an object with schemaName and tableName")
    return TableName(_str(obj, "schemaName", "tableName") or "", _str(obj, "tableName", "tableName") or "")


def parse_spill_location(obj: Any) -> SpillLocation | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise ProtocolError("spillLocation must be an object")
    return SpillLocation(_str(obj, "bucket", "spillLocation") or "", _str(obj, "key", "spillLocation") or "",
                         bool(obj.get("directory", True)))


def parse_encryption_key(obj: Any) -> EncryptionKey | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise ProtocolError("encryptionKey must be an object or null")
    return EncryptionKey(ipc.b64decode(_str(obj, "key", "encryptionKey") or "", "encryption key"),
                         ipc.b64decode(_str(obj, "nonce", "encryptionKey") or "", "encryption nonce"))


def parse_split(obj: Any) -> Split:
    if not isinstance(obj, dict):
        raise ProtocolError("split must be an object")
    return Split(parse_spill_location(obj.get("spillLocation")), parse_encryption_key(obj.get("encryptionKey")),
                 _str_map(obj.get("properties"), "split.properties"))


def parse_constraints(obj: Any) -> tuple[Constraints, int]:
    """Constraints and the lowest serde version that carries every key present."""
    if obj is None:
        return Constraints(), 2
    if not isinstance(obj, dict):
        raise ProtocolError("constraints must be an object")
    summary_obj = obj.get("summary") or {}
    if not isinstance(summary_obj, dict):
        raise ProtocolError("constraints.summary must be an object")
    summary = {col: value_set_from_json(vs, col) for col, vs in summary_obj.items()}
    version = 2
    expression: list[Expression] = []
    order_by: list[OrderByField] = []
    limit = NO_LIMIT
    if any(k in obj for k in ("expression", "orderByClause", "limit")):
        version = 4
        exprs = obj.get("expression") or []
        if not isinstance(exprs, list):
            raise ProtocolError("constraints.expression must be a list")
        expression = [expression_from_json(e) for e in exprs]
        for o in obj.get("orderByClause") or []:
            if not isinstance(o, dict) or o.get("direction") not in DIRECTIONS:
                raise ProtocolError(f"orderByClause entries need columnName and a direction in {DIRECTIONS}")
            order_by.append(OrderByField(_str(o, "columnName", "orderByClause") or "", o["direction"]))
        if obj.get("limit") is not None:
            limit = _int(obj["limit"], "constraints.limit")
    passthrough: dict[str, str] = {}
    if "queryPassthroughArguments" in obj:
        version = 5
        passthrough = _str_map(obj["queryPassthroughArguments"], "constraints.queryPassthroughArguments")
    plan = None
    if "queryPlan" in obj:
        version = 6
        # Accepted and ignored: the summary (and expression) carry the same filter.
        raw = obj["queryPlan"]
        if isinstance(raw, dict):
            plan = QueryPlan(raw.get("substraitVersion"), raw.get("substraitPlan"))
    return Constraints(summary, tuple(expression), tuple(order_by), limit, passthrough, plan), version


def _first_arrow_framing(obj: Any) -> bool | None:
    """True if the first embedded Arrow schema found is legacy-framed, None if there is none."""
    stack = [obj]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "schema" and isinstance(v, str) and v:
                    return not ipc.is_modern(ipc.b64decode(v[:8] + "=" * (-len(v[:8]) % 4), "schema"))
                if isinstance(v, (dict, list)):
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)
    return None


def parse_request(event: Any) -> Request:
    """Parse any federation request. Raises ProtocolError (one clear line) when malformed."""
    if not isinstance(event, dict):
        raise ProtocolError(f"the event must be a JSON object with '@type', got {type(event).__name__}")
    kind = event.get("@type")
    if not isinstance(kind, str):
        raise ProtocolError("the event has no '@type'; is this an Athena federation request?")
    what = kind
    req = Request(type=kind, identity=parse_identity(event.get("identity")),
                  query_id=_str(event, "queryId", what, required=False),
                  catalog_name=_str(event, "catalogName", what, required=False))
    version = 2
    if kind == "ListTablesRequest":
        req.schema_name = _str(event, "schemaName", what, required=False)
        req.next_token = _str(event, "nextToken", what, required=False)
        ps = event.get("pageSize")
        req.page_size = UNLIMITED_PAGE_SIZE if ps is None else _int(ps, "pageSize")
    if "tableName" in event and kind != "ListTablesRequest":
        req.table_name = parse_table_name(event["tableName"])
    if kind == "GetTableRequest" and "queryPassthroughArguments" in event:
        version = 5
        req.passthrough = _str_map(event["queryPassthroughArguments"], "queryPassthroughArguments")
    if "constraints" in event:
        req.constraints, cversion = parse_constraints(event["constraints"])
        version = max(version, cversion)
    elif kind in ("GetTableLayoutRequest", "GetSplitsRequest", "ReadRecordsRequest"):
        raise ProtocolError(f"{what}: missing 'constraints'")
    if isinstance(event.get("schema"), str):
        req.schema = ipc.decode_schema(event["schema"])
    if "partitions" in event:
        req.partitions = ipc.decode_block(event["partitions"])
    if "partitionColumns" in event or "partitionCols" in event:
        cols = event.get("partitionColumns", event.get("partitionCols")) or []
        req.partition_columns = tuple(str(c) for c in cols)
    if kind == "GetSplitsRequest":
        req.continuation_token = _str(event, "continuationToken", what, required=False)
    if "split" in event:
        req.split = parse_split(event["split"])
    if kind == "ReadRecordsRequest":
        if req.table_name is None or req.split is None or req.schema is None:
            raise ProtocolError("ReadRecordsRequest needs tableName, schema and split")
        req.max_block_size = _int(event.get("maxBlockSize", 16_000_000), "maxBlockSize")
        req.max_inline_block_size = _int(event.get("maxInlineBlockSize", 3_465_000), "maxInlineBlockSize")
    if kind == "UserDefinedFunctionRequest":
        if "inputRecords" in event:
            req.input_records = ipc.decode_block(event["inputRecords"])
        if isinstance(event.get("outputSchema"), str):
            req.output_schema = ipc.decode_schema(event["outputSchema"])
        req.method_name = _str(event, "methodName", what, required=False)
        req.function_type = _str(event, "functionType", what, required=False)
    if kind in ("GetTableRequest", "GetTableLayoutRequest", "GetSplitsRequest", "ReadRecordsRequest") \
            and req.table_name is None:
        raise ProtocolError(f"{what}: missing 'tableName'")
    legacy = _first_arrow_framing(event)
    req.legacy_arrow = bool(legacy)
    if legacy is None:
        req.version = max(version, 6) if version == 2 else version
    elif legacy:
        req.version = 2
    else:
        req.version = max(version, 3)
    return req


# ---------------------------------------------------------------- builders (what Athena sends)


def identity_json(identity: Identity | None = None) -> dict[str, Any]:
    i = identity or Identity(account="000000000000", arn="arn:aws:sts::000000000000:assumed-role/local/local")
    return {"id": i.id, "principal": i.principal, "account": i.account, "arn": i.arn, "tags": dict(i.tags),
            "groups": list(i.groups), "configOptions": dict(i.config_options)}


def _envelope(kind: str, catalog_name: str, query_id: str | None, identity: Identity | None) -> dict[str, Any]:
    return {"@type": kind, "identity": identity_json(identity), "queryId": query_id or str(uuid.uuid4()),
            "catalogName": catalog_name}


def table_name_json(schema_name: str, table_name: str) -> dict[str, str]:
    return {"schemaName": schema_name, "tableName": table_name}


def spill_location_json(loc: SpillLocation) -> dict[str, Any]:
    return {"@type": "S3SpillLocation", "bucket": loc.bucket, "key": loc.key, "directory": loc.directory}


def encryption_key_json(key: EncryptionKey | None) -> dict[str, str] | None:
    return None if key is None else {"key": ipc.b64encode(key.key), "nonce": ipc.b64encode(key.nonce)}


def split_json(split: Split) -> dict[str, Any]:
    return {
        "spillLocation": None if split.spill_location is None else spill_location_json(split.spill_location),
        "encryptionKey": encryption_key_json(split.encryption_key),
        "properties": dict(split.properties),
    }


def build_constraints(
    summary: Mapping[str, ValueSet] | None = None,
    *,
    limit: int | None = None,
    order_by: Sequence[OrderByField | tuple[str, str]] = (),
    expression: Sequence[Expression] = (),
    passthrough: Mapping[str, str] | None = None,
    version: int = 6,
) -> dict[str, Any]:
    """A constraints object in the field order of serde `version` (2..6)."""
    legacy = version == 2
    out: dict[str, Any] = {"summary": {c: value_set_to_json(vs, legacy=legacy) for c, vs in (summary or {}).items()}}
    if version >= 4:
        out["expression"] = [expression_to_json(e, legacy=legacy) for e in expression]
        out["orderByClause"] = [
            {"columnName": o.column, "direction": o.direction} if isinstance(o, OrderByField)
            else {"columnName": o[0], "direction": o[1]}
            for o in order_by
        ]
        out["limit"] = NO_LIMIT if limit is None else limit
    if version >= 5:
        out["queryPassthroughArguments"] = dict(passthrough or {})
    if version >= 6:
        out["queryPlan"] = None
    return out


def build_ping_request(catalog_name: str, query_id: str | None = None, identity: Identity | None = None) -> dict:
    return {"@type": "PingRequest", "identity": identity_json(identity), "catalogName": catalog_name,
            "queryId": query_id or str(uuid.uuid4())}


def build_list_schemas_request(catalog_name: str, query_id: str | None = None, identity: Identity | None = None
                               ) -> dict:
    return _envelope("ListSchemasRequest", catalog_name, query_id, identity)


def build_list_tables_request(catalog_name: str, schema_name: str | None, *, next_token: str | None = None,
                              page_size: int = UNLIMITED_PAGE_SIZE, query_id: str | None = None,
                              identity: Identity | None = None) -> dict:
    out = _envelope("ListTablesRequest", catalog_name, query_id, identity)
    out.update(schemaName=schema_name, nextToken=next_token, pageSize=page_size)
    return out


def build_get_table_request(catalog_name: str, schema_name: str, table_name: str, *,
                            passthrough: Mapping[str, str] | None = None, version: int = 6,
                            query_id: str | None = None, identity: Identity | None = None) -> dict:
    out = _envelope("GetTableRequest", catalog_name, query_id, identity)
    out["tableName"] = table_name_json(schema_name, table_name)
    if version >= 5:
        out["queryPassthroughArguments"] = dict(passthrough or {})
    return out


def build_get_table_layout_request(catalog_name: str, schema_name: str, table_name: str, *,
                                   constraints: dict[str, Any], schema: pa.Schema,
                                   partition_columns: Sequence[str] = (), version: int = 6,
                                   query_id: str | None = None, identity: Identity | None = None) -> dict:
    out = _envelope("GetTableLayoutRequest", catalog_name, query_id, identity)
    out["tableName"] = table_name_json(schema_name, table_name)
    out["constraints"] = constraints
    out["schema"] = ipc.encode_schema(schema, legacy=version == 2)
    out["partitionColumns"] = list(partition_columns)
    return out


def build_get_splits_request(catalog_name: str, schema_name: str, table_name: str, *,
                             partitions: dict[str, Any] | pa.RecordBatch, partition_columns: Sequence[str],
                             constraints: dict[str, Any], continuation_token: str | None = None,
                             version: int = 6, query_id: str | None = None,
                             identity: Identity | None = None) -> dict:
    out = _envelope("GetSplitsRequest", catalog_name, query_id, identity)
    out["tableName"] = table_name_json(schema_name, table_name)
    out["partitions"] = partitions if isinstance(partitions, dict) else ipc.encode_block(
        partitions, legacy=version == 2)
    out["partitionColumns"] = list(partition_columns)
    out["constraints"] = constraints
    out["continuationToken"] = continuation_token
    return out


def build_read_records_request(catalog_name: str, schema_name: str, table_name: str, *, schema: pa.Schema,
                               split: dict[str, Any] | Split, constraints: dict[str, Any],
                               max_block_size: int = 16_000_000, max_inline_block_size: int = 3_465_000,
                               version: int = 6, query_id: str | None = None,
                               identity: Identity | None = None) -> dict:
    out = _envelope("ReadRecordsRequest", catalog_name, query_id, identity)
    out["tableName"] = table_name_json(schema_name, table_name)
    out["schema"] = ipc.encode_schema(schema, legacy=version == 2)
    out["split"] = split if isinstance(split, dict) else split_json(split)
    out["constraints"] = constraints
    out["maxBlockSize"] = str(max_block_size)
    out["maxInlineBlockSize"] = str(max_inline_block_size)
    return out


def build_get_data_source_capabilities_request(catalog_name: str, query_id: str | None = None,
                                               identity: Identity | None = None) -> dict:
    return _envelope("GetDataSourceCapabilitiesRequest", catalog_name, query_id, identity)


def build_user_defined_function_request(input_records: pa.RecordBatch, output_schema: pa.Schema, method_name: str,
                                        *, version: int = 6, identity: Identity | None = None) -> dict:
    legacy = version == 2
    return {"@type": "UserDefinedFunctionRequest", "identity": identity_json(identity),
            "inputRecords": ipc.encode_block(input_records, legacy=legacy),
            "outputSchema": ipc.encode_schema(output_schema, legacy=legacy),
            "methodName": method_name, "functionType": "SCALAR"}
