"""Athena Query Federation wire protocol, serde versions 2–6 (spec: shared/reference/athena-protocol.md).

Connector side (used by the handlers):
- `parse_request(event) -> Request`: lenient (key order free, unknown keys ignored, old identity
  shapes); `Request.version` is detected per request, `Request.legacy_arrow` says to answer with
  the v2 (legacy) Arrow framing.
- Response builders, each emitting `@type` first and the SDK's exact field order:
  `ping_response`, `list_schemas_response`, `list_tables_response`, `get_table_response`,
  `get_table_layout_response`, `get_splits_response`, `read_records_response`,
  `remote_read_records_response`, `get_data_source_capabilities_response`,
  `user_defined_function_response`.
- Value sets (`SortedRangeSet`, `EquatableValueSet`, `AllOrNoneValueSet`, `Range`, `Marker`) and
  `value_set_to_ir(column, vs)`; expressions (`FunctionCall`, `Variable`, `Constant`) and
  `expression_to_ir(e)`; `SUPPORTED_FUNCTIONS`.

Engine side (the local SQL engine drives the handler only through JSON):
- Request builders: `build_ping_request(catalog)`, `build_list_schemas_request(catalog)`,
  `build_list_tables_request(catalog, schema, next_token=None, page_size=-1)`,
  `build_get_table_request(catalog, schema, table, passthrough=None)`,
  `build_get_data_source_capabilities_request(catalog)`,
  `build_get_table_layout_request(catalog, schema, table, constraints=, schema=, partition_columns=)`,
  `build_get_splits_request(catalog, schema, table, partitions=<Block dict from the layout response>,
  partition_columns=, constraints=, continuation_token=None)`,
  `build_read_records_request(catalog, schema, table, schema=<pa.Schema of the needed columns>,
  split=<split dict from GetSplitsResponse>, constraints=, max_block_size=, max_inline_block_size=)`;
  all take `query_id=` and `version=` (default 6).
- `build_constraints(summary: dict[str, ValueSet], limit=None, order_by=[(col, "ASC_NULLS_LAST")],
  expression=(), passthrough=None, version=6) -> dict`.
- Value-set constructors from Python values (`type` is a pyarrow type as in GetTable's schema;
  timestamps are aware UTC datetimes, Athena TIMESTAMP columns are `pa.date64()`):
  `values_in(type, values)`, `sorted_range_set(type, [range_of(low, high, low_inclusive=,
  high_inclusive=)], null_allowed=)`, `single_value(v)`, `equatable(type, values, white_list=)`,
  `is_null(type)`, `not_null(type)`, `all_or_none(type, all=, null_allowed=)`.
- `parse_response(obj) -> dict` (Arrow and typed parts decoded), `decode_block(block) ->
  pa.RecordBatch`, `decode_schema(b64) -> pa.Schema`, `read_spilled_block(s3_client, location,
  encryption_key, schema) -> pa.RecordBatch`, `read_spilled_blocks(s3_client, remote_response)`.
- `check_message(obj, version=6)`: the strict checker (field order, JSON types, no extras).
"""

from athena_connector.protocol.expressions import (
    SUPPORTED_FUNCTIONS,
    Constant,
    Expression,
    FunctionCall,
    Variable,
    expression_from_json,
    expression_to_ir,
    expression_to_json,
)
from athena_connector.protocol.ipc import decode_block, decode_schema, encode_block, encode_schema
from athena_connector.protocol.model import (
    NO_LIMIT,
    UNLIMITED_PAGE_SIZE,
    Constraints,
    EncryptionKey,
    Identity,
    OrderByField,
    Request,
    SpillLocation,
    Split,
    TableName,
)
from athena_connector.protocol.requests import (
    build_constraints,
    build_get_data_source_capabilities_request,
    build_get_splits_request,
    build_get_table_layout_request,
    build_get_table_request,
    build_list_schemas_request,
    build_list_tables_request,
    build_ping_request,
    build_read_records_request,
    build_user_defined_function_request,
    parse_constraints,
    parse_request,
)
from athena_connector.protocol.responses import (
    CAPABILITIES,
    SERDE_VERSION,
    get_data_source_capabilities_response,
    get_splits_response,
    get_table_layout_response,
    get_table_response,
    list_schemas_response,
    list_tables_response,
    parse_response,
    ping_response,
    read_records_response,
    remote_read_records_response,
    user_defined_function_response,
)
from athena_connector.protocol.spilled import read_spilled_block, read_spilled_blocks
from athena_connector.protocol.strict import StrictnessError, check_message
from athena_connector.protocol.value_sets import (
    AllOrNoneValueSet,
    EquatableValueSet,
    Marker,
    Range,
    SortedRangeSet,
    ValueSet,
    all_or_none,
    equatable,
    is_null,
    not_null,
    range_of,
    single_value,
    sorted_range_set,
    value_set_from_json,
    value_set_matches,
    value_set_to_ir,
    value_set_to_json,
    values_in,
)

__all__ = [
    "AllOrNoneValueSet",
    "CAPABILITIES",
    "Constant",
    "Constraints",
    "EncryptionKey",
    "EquatableValueSet",
    "Expression",
    "FunctionCall",
    "Identity",
    "Marker",
    "NO_LIMIT",
    "OrderByField",
    "Range",
    "Request",
    "SERDE_VERSION",
    "SUPPORTED_FUNCTIONS",
    "SortedRangeSet",
    "SpillLocation",
    "Split",
    "StrictnessError",
    "TableName",
    "UNLIMITED_PAGE_SIZE",
    "ValueSet",
    "Variable",
    "all_or_none",
    "build_constraints",
    "build_get_data_source_capabilities_request",
    "build_get_splits_request",
    "build_get_table_layout_request",
    "build_get_table_request",
    "build_list_schemas_request",
    "build_list_tables_request",
    "build_ping_request",
    "build_read_records_request",
    "build_user_defined_function_request",
    "check_message",
    "decode_block",
    "decode_schema",
    "encode_block",
    "encode_schema",
    "equatable",
    "expression_from_json",
    "expression_to_ir",
    "expression_to_json",
    "get_data_source_capabilities_response",
    "get_splits_response",
    "get_table_layout_response",
    "get_table_response",
    "is_null",
    "list_schemas_response",
    "list_tables_response",
    "not_null",
    "parse_constraints",
    "parse_request",
    "parse_response",
    "ping_response",
    "range_of",
    "read_records_response",
    "read_spilled_block",
    "read_spilled_blocks",
    "remote_read_records_response",
    "single_value",
    "sorted_range_set",
    "user_defined_function_response",
    "value_set_from_json",
    "value_set_matches",
    "value_set_to_ir",
    "value_set_to_json",
    "values_in",
]
