"""Metadata requests: Ping, ListSchemas, ListTables, GetTable, GetTableLayout,
GetDataSourceCapabilities, and the UDF request (no UDFs are defined)."""

from __future__ import annotations

import pyarrow as pa

from athena_connector.errors import ProtocolError, UnsupportedRequestError
from athena_connector.handlers.context import Invocation
from athena_connector.passthrough import ARGUMENT, FUNCTION_NAME
from athena_connector.protocol import (
    UNLIMITED_PAGE_SIZE,
    TableName,
    get_data_source_capabilities_response,
    get_table_layout_response,
    get_table_response,
    list_schemas_response,
    list_tables_response,
    ping_response,
)
from athena_connector.types import athena_schema
from saasbridge.query.ir import Const

SOURCE_TYPE = "saasbridge"
PARTITION_SCHEMA = pa.schema([pa.field("partitionId", pa.int32())])


def ping(inv: Invocation) -> dict:
    r = inv.request
    return ping_response(r.catalog_name or "", r.query_id or "", SOURCE_TYPE)


def list_schemas(inv: Invocation) -> dict:
    return list_schemas_response(inv.request.catalog_name or "", [inv.catalog.name])


def list_tables(inv: Invocation) -> dict:
    """Tables in name order; `nextToken` is the name of the first table of the next page."""
    r = inv.request
    inv.check_schema(r.schema_name)
    names = sorted(e.name for e in inv.catalog.entities)
    start = 0
    if r.next_token:
        if r.next_token not in names:
            raise ProtocolError(f"ListTables nextToken {r.next_token!r} does not name a table; start without one")
        start = names.index(r.next_token)
    page_size = r.page_size if r.page_size is not None else UNLIMITED_PAGE_SIZE
    end = len(names) if page_size == UNLIMITED_PAGE_SIZE else start + max(page_size, 0)
    if page_size != UNLIMITED_PAGE_SIZE and page_size < 1:
        raise ProtocolError(f"ListTables pageSize must be positive or -1, got {page_size}")
    token = names[end] if end < len(names) else None
    tables = [TableName(inv.catalog.name, n) for n in names[start:end]]
    return list_tables_response(r.catalog_name or "", tables, token)


def get_table(inv: Invocation) -> dict:
    r = inv.request
    entity, _ = inv.entity_for(r.table_name, r.passthrough)  # type: ignore[arg-type]
    table = r.table_name if not r.passthrough else r.table_name
    return get_table_response(r.catalog_name or "", table, athena_schema(entity), [],  # type: ignore[arg-type]
                              legacy=r.legacy_arrow)


def get_table_layout(inv: Invocation) -> dict:
    """One partition row (the table is not partitioned), none when the constraints exclude all."""
    r = inv.request
    entity, pt_where = inv.entity_for(r.table_name, r.constraints.passthrough if r.constraints else None)  # type: ignore[arg-type]
    where = inv.where(entity, pt_where)
    rows = 0 if where == Const(False) else 1
    partitions = pa.RecordBatch.from_arrays([pa.array([1] * rows, pa.int32())], schema=PARTITION_SCHEMA)
    return get_table_layout_response(r.catalog_name or "", r.table_name, partitions,  # type: ignore[arg-type]
                                     legacy=r.legacy_arrow)


def capabilities() -> dict[str, list[dict]]:
    """Exactly what is enforced: every value-set kind (translated to IR and re-checked by the
    residual filter), LIMIT (one split reads, the reader stops at the limit), ORDER BY + LIMIT
    (sorted here) and system.query. Complex expressions are not advertised: a cross-column
    predicate cannot reach the API anyway, so Athena gains nothing by pushing it here."""
    def cap(sub: str, props: list[str] | tuple[str, ...] = ()) -> dict:
        return {"subType": sub, "properties": list(props)}

    return {
        "supports_filter_pushdown": [cap("sorted_range_set"), cap("equatable_range_set"),
                                     cap("all_or_none_value_set"), cap("nullable_comparison")],
        "supports_limit_pushdown": [cap("integer_constant")],
        "supports_top_n_pushdown": [cap("SUPPORTS_ORDER_BY")],
        FUNCTION_NAME: [cap("query_passthrough_schema", ["system"]), cap("query_passthrough_name", ["query"]),
                        cap("query_passthrough_arguments", [ARGUMENT])],
    }


def get_data_source_capabilities(inv: Invocation) -> dict:
    return get_data_source_capabilities_response(inv.request.catalog_name or "", capabilities())


def user_defined_function(inv: Invocation) -> dict:
    raise UnsupportedRequestError(
        f"this connector defines no user-defined functions (called {inv.request.method_name!r}); "
        "remove the USING EXTERNAL FUNCTION clause"
    )
