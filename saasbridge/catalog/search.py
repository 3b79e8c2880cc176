"""The catalog's model of search endpoints: filters that compile into a JSON body (HubSpot
`filterGroups`, Intercom and Notion query objects) or into one query-language string (Stripe
Search, JQL, Zendesk, GitHub qualifiers, SOQL), their sort, projection, paging and result cap.

JSON templates are plain JSON values whose strings may hold placeholders (`{field}`, `{op}`,
`{value}`, `{values}`, `{low}`, `{high}`, `{items}`, `{direction}`, `{id}`); a string that is
exactly one placeholder is replaced by the value itself (a list, a number), otherwise by text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# Ops whose negation the grammar's `not` can express when only their complement is declared.
COMPLEMENT = {"ne": "eq", "not_in": "in", "not_null": "is_null"}


@dataclass(frozen=True)
class BodyFilter:
    """A WHERE as a JSON structure at body path `at`.

    `shape: groups`: OR of AND-groups, one level each (HubSpot): `and` is the template of one
    group (`{"filters": "{items}"}`), the list of groups goes at `at`. `shape: tree`: nested
    AND/OR nodes (`and`, `or` templates, `{items}` the children), depth up to `max_depth`.
    """

    at: str
    condition: Any  # template of one condition
    operators: tuple[tuple[str, str], ...]  # op → the API's operator token; only these are pushed
    shape: Literal["groups", "tree"] = "groups"
    conditions: tuple[tuple[str, Any], ...] = ()  # op → its own template (in, between, null…)
    and_: Any = None
    or_: Any = None
    max_groups: int | None = None
    max_per_group: int | None = None
    max_conditions: int | None = None
    max_depth: int | None = None
    max_items: int | None = None  # tree: children of one node

    def token(self, op: str) -> str | None:
        return dict(self.operators).get(op)

    def template(self, op: str) -> Any:
        return dict(self.conditions).get(op, self.condition)


@dataclass(frozen=True)
class QueryLanguage:
    """A WHERE as one string in a declared grammar, sent in `param` (a query parameter, or a body
    path when the search endpoint is a POST).

    `operators` maps op → template (`{field}:{value}`, `{field} IN ({values})`); values are
    escaped by `escape` (ordered (text, replacement) pairs) and wrapped in `quote` for the
    column kinds in `quote_kinds`; a value holding a `forbidden` character is not pushed.
    `group` wraps a nested AND/OR (`({items})`); without it only one flat AND or OR is sent.
    `template` places the filter (`{filter}`), the sort (`{order}`) and the projection
    (`{fields}`); `where` wraps a non-empty filter (`WHERE {filter}` for SOQL).
    """

    param: str
    operators: tuple[tuple[str, str], ...]
    and_: str = " AND "
    or_: str | None = " OR "
    not_: str | None = None  # e.g. "NOT {item}": the complement of a declared op
    group: str | None = "({items})"
    quote: str = '"'
    quote_kinds: tuple[str, ...] = ("string", "date", "timestamp")
    escape: tuple[tuple[str, str], ...] = (("\\", "\\\\"), ('"', '\\"'))
    forbidden: str = ""
    list_separator: str = ", "
    template: str = "{filter}"
    where: str = "{filter}"
    max_terms: int | None = None
    max_length: int | None = None

    def operator(self, op: str) -> str | None:
        return dict(self.operators).get(op)


@dataclass(frozen=True)
class SearchSort:
    """Orders a search can deliver: `template` (JSON at body path / parameter `at`, or text for
    `{order}` of a query language) with `{field}` and `{direction}`."""

    template: Any
    at: str | None = None
    ascending: str = "asc"
    descending: str = "desc"
    columns: tuple[str, ...] | None = None  # None: every non-nullable scalar column


@dataclass(frozen=True)
class Search:
    """A search endpoint of an entity: what a filtered read asks instead of the list endpoint.

    Exactly one of `filter` (a JSON body) and `query` (a query-language string). With a POST,
    the filter, sort, projection, page size and cursor all go into the JSON body (paths may be
    dotted); with a GET, into query parameters. `max_results` is the most rows one query can
    page through: a read that would pass it is cut into ranges of `cap_field` (a non-nullable
    timestamp) by the total at `pagination.total_path`, never truncated.
    """

    path: str
    method: Literal["GET", "POST"] = "POST"
    body: Any = None  # static JSON body (an object) the compiled parts are added to
    filter: BodyFilter | None = None
    query: QueryLanguage | None = None
    sort: SearchSort | None = None
    projection: str | None = None  # body path / parameter of the api-name list
    names: tuple[tuple[str, str], ...] = ()  # column → name used in filters and sorts
    strip_prefix: str | None = None  # api_name prefix the search names leave out (`properties.`)
    formats: tuple[tuple[str, str], ...] = ()  # column kind → value format
    native_values: bool = False  # JSON numbers and booleans instead of strings
    filterable: tuple[str, ...] | None = None  # None: every scalar column
    # ops the API applies to strings as SQL does or wider (None: all); a case-insensitive or
    # ordinal comparison (`-author:mona`, Zendesk's `status<solved`) would lose rows
    string_ops: tuple[str, ...] | None = None
    pagination: Any = None  # Pagination | None: this endpoint's paging (default: the entity's)
    records_path: str | None = None
    max_results: int | None = None
    cap_field: str | None = None
    cap_start: str = "2000-01-01"
    always: bool = False  # also for reads that push nothing (default: the list endpoint serves those)

    @property
    def in_body(self) -> bool:
        return self.method == "POST"

    def name_of(self, column: str, api_name: str) -> str:
        named = dict(self.names).get(column)
        if named is not None:
            return named
        if self.strip_prefix and api_name.startswith(self.strip_prefix):
            return api_name[len(self.strip_prefix) :]
        return api_name


@dataclass(frozen=True)
class BatchRead:
    """Records by id in one request (`POST …/batch/read {"inputs": [{"id": "1"}, …]}`)."""

    path: str
    method: Literal["GET", "POST"] = "POST"
    ids_at: str = "inputs"  # body path of the id list
    id_item: Any = "{id}"  # template of one list item
    projection: str | None = None  # body path of the api-name list
    body: Any = None
    records_path: str = "results"
    max_ids: int = 100


@dataclass(frozen=True)
class DynamicProperties:
    """Columns discovered from a metadata endpoint (`GET /crm/v3/properties/contacts`)."""

    path: str
    records_path: str = "results"
    name_path: str = "name"
    type_path: str = "type"
    types: tuple[tuple[str, str], ...] = ()  # API type → catalog type; unknown types are strings
    filterable_path: str | None = None  # a flag per property; absent = filterable
    api_prefix: str = ""  # where a property sits in a record (`properties.`)
    ttl_seconds: float = 300.0
