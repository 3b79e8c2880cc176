"""The catalog's in-memory model: what the loader builds from YAML and every other layer reads.

Field meanings, defaults and YAML spelling are documented in docs/catalog.md; the YAML keys are
the attribute names below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from saasbridge.catalog.search import BatchRead, DynamicProperties, Search
from saasbridge.errors import UnknownEntityError

TypeKind = Literal[
    "string", "int32", "int64", "double", "decimal", "boolean", "date", "timestamp", "list", "struct", "map"
]


@dataclass(frozen=True)
class FieldType:
    """A column type, parsed from strings such as `decimal(12,2)`, `list<string>`,
    `struct<street:string,city:string>`, `map<string,string>`."""

    kind: TypeKind
    precision: int | None = None  # decimal
    scale: int | None = None  # decimal
    item: FieldType | None = None  # list item, map value
    fields: tuple[tuple[str, FieldType], ...] = ()  # struct members, in order


_PLACEHOLDER = re.compile(r"\{([^}]*)\}")

# Operators a field filter can push into the API.
FilterOp = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "contains"]
# How a value is written into a query parameter.
ValueFormat = Literal["string", "iso8601", "iso8601_ms", "epoch_s", "epoch_ms", "date", "bool_lower", "number"]


@dataclass(frozen=True)
class FieldFilter:
    """One operator the API can apply to a field, and the query parameter that carries it.

    `param` may be a template such as `filter[{op}]`; for `in`, values are joined with
    `separator` (or sent as one `param=value` pair each when `repeat`) and at most `max_values`
    go in one request.
    """

    op: FilterOp
    param: str
    format: ValueFormat = "string"
    separator: str = ","
    max_values: int | None = None
    repeat: bool = False  # in: `?param=a&param=b` instead of `?param=a,b`


@dataclass(frozen=True)
class Field:
    name: str  # column name: lower-case snake_case (Athena lower-cases identifiers)
    api_name: str  # key in the API record; dots address nested keys (`address.city`)
    type: FieldType
    nullable: bool = True
    description: str | None = None
    filters: tuple[FieldFilter, ...] = ()
    writable: bool = False

    def filter_for(self, op: FilterOp) -> FieldFilter | None:
        return next((f for f in self.filters if f.op == op), None)


PaginationStyle = Literal["cursor", "last_id", "next_url", "link_header", "offset", "page_number", "single"]


@dataclass(frozen=True)
class Pagination:
    style: PaginationStyle = "cursor"
    limit_param: str | None = "limit"  # page-size parameter; None when the API has none
    default_page_size: int = 100
    max_page_size: int = 100
    cursor_param: str = "cursor"  # cursor: request parameter carrying the cursor
    cursor_path: str = "next_cursor"  # cursor: body path of the next cursor (null/absent = end)
    id_path: str = "id"  # last_id: the record key whose last value is the next cursor
    next_url_path: str = "next"  # next_url: body path of the next page's URL
    offset_param: str = "offset"  # offset
    page_param: str = "page"  # page_number
    start_page: int = 1  # page_number
    total_path: str | None = None  # body path of the total row count (offset/page_number: ends the listing)
    has_more_path: str | None = None  # offset/page_number/last_id: body path of a has-more flag
    stop_on_empty: bool = True  # offset/page_number: an empty page ends the listing
    total_header: str | None = None  # offset/page_number: header with the total (`120` or `items 0-49/120`)
    has_more_header: str | None = None  # offset/page_number: header with a has-more flag (true/false, 1/0)
    stop_on_short_page: bool = False  # a page shorter than the page size ends the listing (opt-in)


AuthType = Literal["none", "bearer", "api_key", "basic", "oauth2_client_credentials", "oauth2_authorization_code"]


@dataclass(frozen=True)
class Auth:
    """How requests are authenticated. Credentials are never in the catalog: they come from
    the environment locally (`SAASBRIDGE_API_KEY`, `SAASBRIDGE_USERNAME`/`_PASSWORD`,
    `SAASBRIDGE_CLIENT_ID`/`_CLIENT_SECRET`, `SAASBRIDGE_ACCESS_TOKEN`, `SAASBRIDGE_REFRESH_TOKEN`)
    or from a Secrets Manager secret with AppFlow's key names (`apiKey`, `username`/`password`,
    `clientId`/`clientSecret`, `accessToken`, `refreshToken`)."""

    type: AuthType = "bearer"
    header: str = "Authorization"  # api_key in a header: its name
    query_param: str | None = None  # api_key in the query string instead of a header
    prefix: str = "Bearer "  # bearer: value prefix
    token_url: str | None = None  # oauth2: token endpoint, absolute or relative to base_url
    auth_url: str | None = None  # oauth2_authorization_code: the provider's authorization page
    scopes: tuple[str, ...] = ()
    refresh_margin_seconds: int = 60  # oauth2: refresh this long before expiry


@dataclass(frozen=True)
class QuotaResponse:
    """A non-429 response that means "slow down", e.g. Salesforce's 403 REQUEST_LIMIT_EXCEEDED."""

    status: int
    body_path: str | None = None  # where the error code sits in the JSON body
    code: str | None = None  # the value that marks a quota error


@dataclass(frozen=True)
class Retry:
    max_attempts: int = 6
    base_delay: float = 0.2  # seconds, doubled per attempt, with full jitter
    max_delay: float = 20.0
    quota_responses: tuple[QuotaResponse, ...] = ()


@dataclass(frozen=True)
class SharedBudget:
    """The budget every process shares through a DynamoDB table (`rate_limit.shared`)."""

    table: str | None = None  # None: only SAASBRIDGE_BUDGET_TABLE turns the shared budget on
    lease: int | None = None  # tokens taken from the table at once; None = derived from the rate
    daily_quota: int | None = None
    hourly_quota: int | None = None
    refuse_at: float = 0.8  # share of a quota after which new scans are refused
    daily_remaining_header: str | None = None
    hourly_remaining_header: str | None = None

    def quota(self, period: str) -> int | None:
        """The request quota of a period ("day" or "hour"); None = no quota."""
        return self.daily_quota if period == "day" else self.hourly_quota


@dataclass(frozen=True)
class RateBudget:
    requests_per_second: float = 10.0
    burst: int = 10
    max_concurrency: int = 4
    shared: SharedBudget = field(default_factory=SharedBudget)


@dataclass(frozen=True)
class SplitHint:
    """How to cut a large scan into independent splits.

    `time`: half-open windows [lo, hi) on a non-nullable timestamp `field`, `window_days` wide,
    from `start` (ISO date); the first split is open below and the last open above, so the
    windows cover every value exactly once. `id_range`: ranges on a sortable id field.
    `rows_per_day` (optional): about how many rows one day of `field` holds; with it, a scan is
    cut into no more windows than its expected pages make worth while.
    """

    kind: Literal["time", "id_range"]
    field: str
    window_days: float = 30.0
    start: str | None = None
    end: str | None = None
    rows_per_day: float | None = None


# A sort option's request: the value of `Sort.param`, or its own (parameter, value) pairs.
SortRequest = str | tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sort:
    """Orders the API can deliver: `options` maps (column, descending) to the parameter value,
    or to a small set of parameters (`sort=created_at&order=desc`, `sort_desc=created_at`)."""

    param: str = "sort"
    options: tuple[tuple[str, bool, SortRequest], ...] = ()  # (column, descending, request)
    default: tuple[str, bool] | None = ("id", False)  # the order without the parameter

    def params_for(self, column: str, descending: bool) -> dict[str, str] | None:
        """The query parameters that ask for this order; None when the API cannot deliver it."""
        found = next((v for c, d, v in self.options if c == column and d == descending), None)
        if found is None:
            return None
        return {self.param: found} if isinstance(found, str) else dict(found)


WriteOp = Literal["insert", "update", "upsert", "delete"]


@dataclass(frozen=True)
class WriteOperation:
    op: WriteOp
    method: str  # HTTP method
    path: str  # may contain {id}
    batch_size: int = 1  # records per request; >1 sends {"<body_key>": [...]}
    body_key: str | None = "data"
    result_path: str | None = None  # body path of the written records in the response (None = body)
    errors_path: str | None = None  # body path of per-item errors [{"index": i, ...}] (None = all or nothing)
    error_ref_path: str = "index"  # in an error: the item's index, trace token(s) or id(s)
    item_key: str | None = None  # batch: each record's fields under this key (`{"properties": {…}}`)
    id_key: str | None = None  # batch: the record id beside item_key (`{"id": "7", "properties": …}`)
    trace_key: str | None = None  # batch: a token per item, echoed in its result / error


@dataclass(frozen=True)
class Parent:
    """A parent-scoped entity's parent: its records give the values of the path placeholders
    (`keys`: placeholder column of the child → column of the parent) when a query binds none."""

    entity: str
    keys: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Entity:
    name: str  # table name: lower-case snake_case
    path: str  # list endpoint, relative to base_url, e.g. /v1/accounts
    fields: tuple[Field, ...]
    primary_key: str | None = "id"  # column name
    description: str | None = None
    group: str | None = None  # AppFlow nested listing: entities grouped under this name
    get_path: str | None = None  # fetch by id, e.g. /v1/accounts/{id}
    ids_param: str | None = None  # list endpoint parameter taking a comma list of ids
    ids_max: int = 100
    projection_param: str | None = None  # parameter taking a comma list of api field names
    incremental_field: str | None = None  # column AppFlow uses for incremental pulls
    pagination: Pagination | None = None  # overrides the catalog default
    records_path: str | None = None  # overrides the catalog default
    sort: Sort | None = None
    split: SplitHint | None = None
    writes: tuple[WriteOperation, ...] = ()
    projection_repeat: bool = False  # `?fields=a&fields=b` instead of `?fields=a,b`
    params: tuple[tuple[str, str], ...] = ()  # static query parameters of the list endpoint
    parent: Parent | None = None  # parent-scoped: where the path placeholders' values come from
    search: Search | None = None  # a search endpoint filtered reads use (body or query language)
    batch_read: BatchRead | None = None  # records by id in one request
    properties: DynamicProperties | None = None  # columns discovered from a metadata endpoint

    @property
    def path_columns(self) -> tuple[str, ...]:
        """The columns bound to placeholders of the list path (`/v1/accounts/{account_id}/notes`)."""
        return tuple(dict.fromkeys(_PLACEHOLDER.findall(self.path)))

    def field(self, column: str) -> Field:
        for f in self.fields:
            if f.name == column:
                return f
        raise UnknownEntityError(f"{self.name}.{column}", [f.name for f in self.fields])

    def has_field(self, column: str) -> bool:
        return any(f.name == column for f in self.fields)

    @property
    def column_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def write_operation(self, op: WriteOp) -> WriteOperation | None:
        return next((w for w in self.writes if w.op == op), None)

    @property
    def writable(self) -> bool:
        return bool(self.writes)


@dataclass(frozen=True)
class Catalog:
    name: str  # Athena schema name / AppFlow connector name: lower-case snake_case
    base_url: str  # after ${ENV} substitution
    entities: tuple[Entity, ...]
    title: str | None = None
    description: str | None = None
    auth: Auth = field(default_factory=Auth)
    pagination: Pagination = field(default_factory=Pagination)
    records_path: str = "data"  # body path of the records; "" = the body is the array
    retry: Retry = field(default_factory=Retry)
    rate_limit: RateBudget = field(default_factory=RateBudget)
    headers: tuple[tuple[str, str], ...] = ()  # static headers sent with every request
    params: tuple[tuple[str, str], ...] = ()  # static query parameters of every entity request
    api_versions: tuple[str, ...] = ("v1",)
    source_file: str | None = None  # where it was loaded from, for error messages

    def entity(self, name: str) -> Entity:
        for e in self.entities:
            if e.name == name:
                return e
        raise UnknownEntityError(name, [e.name for e in self.entities])

    def pagination_for(self, entity: Entity) -> Pagination:
        return entity.pagination or self.pagination

    def params_for(self, entity: Entity) -> dict[str, str]:
        """The static query parameters of the entity's requests (the entity's win)."""
        return {**dict(self.params), **dict(entity.params)}

    def records_path_for(self, entity: Entity) -> str:
        return self.records_path if entity.records_path is None else entity.records_path
