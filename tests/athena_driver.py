"""Test helper: drives athena_connector.handler.lambda_handler with JSON events as Athena would,
and the ground truth (demo_saas.dump_records) normalised to comparable Python values."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from decimal import Decimal
from typing import Any

import boto3
import pyarrow as pa

from athena_connector import protocol as p
from athena_connector.handler import lambda_handler
from conformance.cases import api_value
from saasbridge.catalog import load_catalog
from saasbridge.catalog.model import Entity, FieldType
from saasbridge.runtime import catalog_path

CATALOG_NAME = "saas"


class Context:
    function_name = "saasbridge-athena"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def invoke(event: dict, version: int = 6) -> dict:
    response = lambda_handler(json.loads(json.dumps(event)), Context())
    wire = json.loads(json.dumps(response))
    assert list(wire) == list(response)
    p.check_message(wire, version)
    return wire


def scan(table: str, *, summary: dict | None = None, columns: list[str] | None = None, limit: int | None = None,
         order_by: list[tuple[str, str]] = (), passthrough: dict | None = None, max_block: int = 16_000_000,
         max_inline: int = 3_465_000, version: int = 6, s3: Any = None, stats: dict | None = None,
         schema_name: str = "crm") -> pa.Table:
    """Layout → splits (following tokens) → a read per split; returns the rows Athena would get."""
    qid = str(uuid.uuid4())
    # a GetTable request carries no Arrow, so nothing tells a v2 caller apart: answered as announced (v6)
    get = invoke(p.build_get_table_request(CATALOG_NAME, schema_name, table, passthrough=passthrough,
                                           version=version, query_id=qid), max(version, 6))
    full = p.decode_schema(get["schema"])
    wanted = full if columns is None else pa.schema([full.field(c) for c in columns])
    cons = p.build_constraints(summary or {}, limit=limit, order_by=list(order_by), passthrough=passthrough,
                               version=version)
    layout = invoke(p.build_get_table_layout_request(CATALOG_NAME, schema_name, table, constraints=cons,
                                                     schema=full, version=version, query_id=qid), version)
    splits, token = [], None
    while True:
        resp = invoke(p.build_get_splits_request(CATALOG_NAME, schema_name, table, partitions=layout["partitions"],
                                                 partition_columns=[], constraints=cons, continuation_token=token,
                                                 version=version, query_id=qid), version)
        splits += resp["splits"]
        token = resp["continuationToken"]
        if token is None:
            break
    batches = []
    for split in splits:
        started = time.monotonic()
        resp = invoke(p.build_read_records_request(CATALOG_NAME, schema_name, table, schema=wanted, split=split,
                                                   constraints=cons, max_block_size=max_block,
                                                   max_inline_block_size=max_inline, version=version,
                                                   query_id=qid), version)
        if stats is not None:
            stats.setdefault("responses", []).append(resp["@type"])
            stats.setdefault("answers", []).append({"bytes": len(json.dumps(resp)),
                                                    "seconds": time.monotonic() - started})
        if resp["@type"] == "ReadRecordsResponse":
            batch = p.decode_block(resp["records"])
            assert batch.schema == wanted
            batches.append(batch)
        else:
            assert p.decode_schema(resp["schema"]) == wanted
            for i, loc in enumerate(resp["remoteBlocks"]):
                assert loc["key"] == f"{split['spillLocation']['key']}.{i}" and loc["directory"] is False
            batches += list(p.read_spilled_blocks(s3 or s3_client(), resp))
    if stats is not None:
        stats["splits"] = splits
    return pa.Table.from_batches(batches, schema=wanted)


def s3_client() -> Any:
    return boto3.client("s3")


# ---------------------------------------------------------------- comparable values


def _norm(ft: FieldType, v: Any) -> Any:
    if v is None:
        return None
    k = ft.kind
    if k == "timestamp":
        if isinstance(v, str):
            t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            return int(t.timestamp() * 1000 + (0.5 if t.timestamp() >= 0 else -0.5))
        if isinstance(v, dt.datetime):
            return int(round(v.timestamp() * 1000))
        return int(v)
    if k == "date":
        return dt.date.fromisoformat(v) if isinstance(v, str) else v
    if k == "decimal":
        return Decimal(str(v)).quantize(Decimal(1).scaleb(-(ft.scale or 0)))
    if k == "double":
        return float(v)
    if k == "list":
        return tuple(_norm(ft.item, x) for x in v)
    if k == "map":
        items = v.items() if isinstance(v, dict) else v
        return tuple(sorted((key, _norm(ft.item, x)) for key, x in items))
    if k == "struct":
        return tuple((name, _norm(t, v.get(name))) for name, t in ft.fields)
    return v


def truth_rows(entity: Entity, records: list[dict], columns: list[str] | None = None) -> list[dict]:
    """Ground-truth records as {column: comparable value}."""
    cols = columns or entity.column_names
    fields = {f.name: f for f in entity.fields}
    return [{c: _norm(fields[c].type, api_value(r, fields[c].api_name)) for c in cols} for r in records]


def actual_rows(entity: Entity, table: pa.Table) -> list[dict]:
    fields = {f.name: f for f in entity.fields}
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_date64(col.type):
            col = col.cast(pa.int64())
        cols[name] = [_norm(fields[name].type, v) for v in col.to_pylist()]
    return [{c: cols[c][i] for c in cols} for i in range(table.num_rows)]


def sort_key(row: dict) -> str:
    return json.dumps(row, default=str, sort_keys=True)


def same_rows(a: list[dict], b: list[dict]) -> bool:
    return sorted(map(sort_key, a)) == sorted(map(sort_key, b))


def catalog():
    return load_catalog(catalog_path())
