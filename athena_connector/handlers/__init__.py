"""One function per request type; each takes an Invocation and returns the response dict."""

from __future__ import annotations

from collections.abc import Callable

from athena_connector.handlers.context import Invocation
from athena_connector.handlers.metadata import (
    get_data_source_capabilities,
    get_table,
    get_table_layout,
    list_schemas,
    list_tables,
    ping,
    user_defined_function,
)
from athena_connector.handlers.records import read_records
from athena_connector.handlers.splits import get_splits

HANDLERS: dict[str, Callable[[Invocation], dict]] = {
    "PingRequest": ping,
    "ListSchemasRequest": list_schemas,
    "ListTablesRequest": list_tables,
    "GetTableRequest": get_table,
    "GetTableLayoutRequest": get_table_layout,
    "GetSplitsRequest": get_splits,
    "ReadRecordsRequest": read_records,
    "GetDataSourceCapabilitiesRequest": get_data_source_capabilities,
    "UserDefinedFunctionRequest": user_defined_function,
}

__all__ = ["HANDLERS", "Invocation"]
