"""Shared sub-objects of the federation messages: identity, table names, splits, spill locations,
encryption keys, constraints, and the parsed request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from athena_connector.protocol.expressions import Expression
from athena_connector.protocol.value_sets import ValueSet

NO_LIMIT = -1
UNLIMITED_PAGE_SIZE = -1
DIRECTIONS = ("ASC_NULLS_FIRST", "ASC_NULLS_LAST", "DESC_NULLS_FIRST", "DESC_NULLS_LAST")


@dataclass(frozen=True)
class Identity:
    id: str = "UNKNOWN"
    principal: str = "UNKNOWN"
    account: str | None = None
    arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    config_options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TableName:
    schema_name: str
    table_name: str


@dataclass(frozen=True)
class SpillLocation:
    bucket: str
    key: str
    directory: bool = True


@dataclass(frozen=True)
class EncryptionKey:
    key: bytes
    nonce: bytes

    def __repr__(self) -> str:  # never show key material
        return f"EncryptionKey(key=<{len(self.key)} bytes>, nonce=<{len(self.nonce)} bytes>)"


@dataclass(frozen=True)
class Split:
    spill_location: SpillLocation | None
    encryption_key: EncryptionKey | None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderByField:
    column: str
    direction: str = "ASC_NULLS_LAST"

    @property
    def descending(self) -> bool:
        return self.direction.startswith("DESC")

    @property
    def nulls_first(self) -> bool:
        return self.direction.endswith("NULLS_FIRST")


@dataclass(frozen=True)
class QueryPlan:
    substrait_version: str | None
    substrait_plan: str | None


@dataclass(frozen=True)
class Constraints:
    summary: dict[str, ValueSet] = field(default_factory=dict)
    expression: tuple[Expression, ...] = ()
    order_by: tuple[OrderByField, ...] = ()
    limit: int = NO_LIMIT
    passthrough: dict[str, str] = field(default_factory=dict)
    query_plan: QueryPlan | None = None

    @property
    def has_limit(self) -> bool:
        return self.limit is not None and self.limit >= 0


@dataclass
class Request:
    """Any parsed request; fields that a request type does not carry stay None.

    `version` is the serde version detected from the request's content (2 when only the legacy
    Arrow framing says so, else the lowest version that has every field present, at least 3 when
    Arrow content is modern); `legacy_arrow` says whether to answer with legacy framing.
    """

    type: str
    identity: Identity
    query_id: str | None = None
    catalog_name: str | None = None
    version: int = 6
    legacy_arrow: bool = False
    schema_name: str | None = None
    next_token: str | None = None
    page_size: int | None = None
    table_name: TableName | None = None
    passthrough: dict[str, str] | None = None
    constraints: Constraints | None = None
    schema: pa.Schema | None = None
    partitions: pa.RecordBatch | None = None
    partition_columns: tuple[str, ...] | None = None
    continuation_token: str | None = None
    split: Split | None = None
    max_block_size: int | None = None
    max_inline_block_size: int | None = None
    input_records: pa.RecordBatch | None = None
    output_schema: pa.Schema | None = None
    method_name: str | None = None
    function_type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
