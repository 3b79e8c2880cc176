"""QueryData and RetrieveData: filter DSL → IR → saasbridge.query.reader, pages as AppFlow records.

Each QueryData call stops well inside AppFlow's limits (30 s, 6 MB) and returns what it has plus a
nextToken; the token resumes exactly where the page stopped, even in the middle of an API page.
"""

from __future__ import annotations

import bisect
import os
import time
from contextlib import closing
from typing import Any

import orjson
from custom_connector_sdk.lambda_handler import requests as rq
from custom_connector_sdk.lambda_handler import responses as r
from custom_connector_sdk.lambda_handler.handlers import RecordHandler

from appflow_connector import session, tokens
from appflow_connector.errors import ConnectorError
from appflow_connector.filters import parse_filter
from appflow_connector.render import record_texts
from appflow_connector.types import filter_fields
from saasbridge.catalog.model import Entity
from saasbridge.client.deadline import Deadline
from saasbridge.client.properties import with_properties
from saasbridge.errors import DeadlineExceeded
from saasbridge.query.ir import InList, Query

DEFAULT_MAX_RESULTS = 1000
# AppFlow allows 30 s per QueryData and 6 MB per response; stay well inside both.
CALL_BUDGET_SECONDS = float(os.environ.get("SAASBRIDGE_APPFLOW_CALL_SECONDS", "24"))
RESPONSE_BUDGET_BYTES = int(os.environ.get("SAASBRIDGE_APPFLOW_RESPONSE_BYTES", str(5 * 1024 * 1024)))
SLOW_PAGE_SECONDS = CALL_BUDGET_SECONDS / 4  # an API page slower than this halves the page size
LAMBDA_RESERVE_SECONDS = 3.0


def call_deadline(context: Any) -> Deadline:
    budget = CALL_BUDGET_SECONDS
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        budget = min(budget, context.get_remaining_time_in_millis() / 1000.0 - LAMBDA_RESERVE_SECONDS)
    return Deadline(max(0.5, budget))


def selected_columns(entity: Entity, names: list[str] | None) -> list[str]:
    if not names:
        return entity.column_names
    unknown = [n for n in names if not entity.has_field(n)]
    if unknown:
        raise ConnectorError(
            r.ErrorCode.InvalidArgument,
            f"selectedFieldNames not in entity {entity.name}: {', '.join(unknown)} "
            f"(fields: {', '.join(entity.column_names)})",
        )
    return list(dict.fromkeys(names))


def _start_index(ids: list | None, count: int, skip: int, last_id: Any) -> int:
    """Index of the first row of a replayed page not yet returned (by identity when possible);
    `ids` are the page's primary keys (None when the entity has none)."""
    if last_id is None or ids is None:
        return min(skip, count)
    if last_id in ids:
        return ids.index(last_id) + 1
    try:
        if all(a < b for a, b in zip(ids, ids[1:], strict=False)):
            return bisect.bisect_right(ids, last_id)  # the last returned row vanished; keep key order
    except TypeError:
        pass
    return min(skip, count)


def adapted_page_size(size: int, cap: int, api_bytes: int, seconds: float) -> int:
    """Records per API page after a page of `size` records whose JSON took `api_bytes` and that
    took `seconds` to arrive: halved when its JSON nears the response budget (again, until such a
    page would take a quarter of it) or the API was slow; doubled, up to `cap`, after a page that
    was fast and small enough that a double one stays clear of both."""
    if api_bytes > RESPONSE_BUDGET_BYTES // 2 or seconds > SLOW_PAGE_SECONDS:
        target = max(1, size // 2)
        while target > 1 and api_bytes * target > size * (RESPONSE_BUDGET_BYTES // 4):
            target //= 2
        return target
    if api_bytes * 8 < RESPONSE_BUDGET_BYTES and seconds * 4 < SLOW_PAGE_SECONDS:
        return max(size, min(cap, size * 2))
    return size


def record_too_large(entity: Entity, text: str, row_id: Any) -> ConnectorError:
    """The error for one record that alone fills more than an answer may hold."""
    record = orjson.loads(text)
    field = max(record, key=lambda k: len(orjson.dumps(record[k])), default="?")
    which = f"{row_id!r}" if row_id is not None else "without an id"
    return ConnectorError(
        r.ErrorCode.InvalidArgument,
        f"record {which} of {entity.name} takes {len(text):,} bytes as JSON, more than one answer may hold "
        f"({RESPONSE_BUDGET_BYTES:,} bytes, under AppFlow's 6 MB limit); its largest field is {field}: leave "
        f"{field} out of the flow's fields or filter that record out",
    )


def _json_size(text: str) -> int:
    """Bytes a record takes inside the response (escaped, plus its separator)."""
    return len(orjson.dumps(text)) + 1


class QueryPager:
    """Runs one QueryData call: reads from a position until a page is full or a budget runs out,
    adapting the API page size to the pages' weight and speed (the token carries it on)."""

    def __init__(
        self, client, cat, entity: Entity, columns: list[str], where, limit: int | None, deadline: Deadline,
        page_size: int | None = None,
    ):  # fmt: skip
        self.client, self.catalog, self.entity = client, cat, entity
        self.columns, self.where, self.limit, self.deadline = columns, where, limit, deadline
        self.page_size = page_size  # the pageSize runtime setting (None = the API's default)

    def run(self, pos: tokens.Position, want: int) -> tuple[list[str], tokens.Position | None]:
        from saasbridge.query import planner, reader

        pk = self.entity.primary_key
        read_columns = list(self.columns)
        if pk and pk not in read_columns:
            read_columns.append(pk)  # needed to resume by identity inside a page
        # The reader counts LIMIT across resumes itself (its resume state carries the row count).
        query = Query(self.entity.name, tuple(read_columns), self.where, self.limit)
        cap = planner.plan(self.catalog, query, page_size=self.page_size).page_size
        size = pos.page_size or cap
        records: list[str] = []
        nbytes = 0
        page_start, skip, last_id = pos.page, pos.skip, pos.last_id

        def at(page: dict | None, skip: int = 0, last: Any = None) -> tokens.Position:
            return tokens.Position(page, skip, last, pos.emitted + len(records), size)

        while True:  # one listing per page size
            listing = reader.read(self.client, self.catalog, query, deadline=self.deadline, resume=page_start,
                                  page_size=size)
            with closing(listing):
                while True:
                    started = time.monotonic()
                    try:
                        page = next(listing, None)
                    except DeadlineExceeded:
                        # Nothing of the page being fetched was returned: continue from its start.
                        return records, at(page_start, skip, last_id)
                    if page is None:
                        return records, None
                    seconds = time.monotonic() - started
                    batch = page.batch
                    count = batch.num_rows
                    ids = batch.column(pk).to_pylist() if pk else None
                    i = _start_index(ids, count, skip, last_id)
                    # Render (column-wise) only the rows this call can still return.
                    take = max(0, min(count - i, want - len(records)))
                    for text in record_texts(batch.slice(i, take), self.columns) if take else ():
                        size_of = _json_size(text)
                        if nbytes + size_of > RESPONSE_BUDGET_BYTES:
                            if not records:
                                raise record_too_large(self.entity, text, ids[i] if ids is not None else None)
                            break
                        records.append(text)
                        nbytes += size_of
                        i += 1
                    if i < count:  # the call is full (records or bytes): resume inside this page
                        prev = ids[i - 1] if ids is not None and i > 0 else last_id
                        return records, at(page_start, i, prev)
                    if page.resume is None:
                        return records, None
                    page_start, skip, last_id = page.resume, 0, None
                    new_size = adapted_page_size(size, cap, page.api_bytes, seconds)
                    resized = reader.resized_resume(self.catalog, self.entity, page_start, new_size,
                                                    endpoint=listing.plan.endpoint) if new_size != size else None
                    if resized is not None:
                        page_start, size = resized, new_size
                    if len(records) >= want or nbytes >= RESPONSE_BUDGET_BYTES or self.deadline.expired:
                        return records, at(page_start)
                    if resized is not None:
                        break  # go on with a listing at the new size


class SaasBridgeRecordHandler(RecordHandler):
    def __init__(self) -> None:
        self.lambda_context: Any = None  # set by the dispatcher for each call

    def query_data(self, request: rq.QueryDataRequest):
        ctx = request.connector_context
        settings = ctx.connector_runtime_settings if ctx else None
        cat = session.catalog_for(settings)
        entity = session.resolve_entity(cat, request.entity_identifier)
        client = session.client_for(cat, ctx.credentials.secret_arn if ctx and ctx.credentials else None)
        if entity.properties is not None:  # columns discovered per tenant (issue 24)
            cat = with_properties(cat, client, entity.name)
            entity = cat.entity(entity.name)
        columns = selected_columns(entity, request.selected_field_names)
        parsed = parse_filter(request.filter_expression, filter_fields(entity))
        fingerprint = tokens.query_fingerprint(
            entity.name, request.selected_field_names, request.filter_expression
        )
        pos = tokens.decode(request.next_token, fingerprint)
        want = request.max_results or DEFAULT_MAX_RESULTS
        if parsed.limit is not None:
            want = min(want, parsed.limit - pos.emitted)
            if want <= 0:
                return r.QueryDataResponse(True, records=[], next_token=None)
        if request.next_token is None:  # a new scan; one already running reads to its end
            client.admit_scan()
        size = session.page_size(settings, cat.pagination_for(entity).max_page_size)
        pager = QueryPager(
            client, cat, entity, columns, parsed.where, parsed.limit, call_deadline(self.lambda_context), size
        )
        records, nxt = pager.run(pos, want)
        if nxt is not None and parsed.limit is not None and nxt.emitted >= parsed.limit:
            nxt = None
        token = tokens.encode(nxt, fingerprint) if nxt is not None else None
        return r.QueryDataResponse(True, records=records, next_token=token)

    def retrieve_data(self, request: rq.RetrieveDataRequest):
        from saasbridge.query import reader

        ctx = request.connector_context
        cat = session.catalog_for(ctx.connector_runtime_settings if ctx else None)
        entity = session.resolve_entity(cat, request.entity_identifier)
        columns = selected_columns(entity, request.selected_field_names)
        id_field = request.id_field_name or entity.primary_key
        if not id_field or not entity.has_field(id_field):
            raise ConnectorError(
                r.ErrorCode.InvalidArgument, f"idFieldName {id_field!r} is not a field of {entity.name}"
            )
        ids = tuple(dict.fromkeys(str(i) for i in (request.ids or [])))
        if not ids:
            return r.RetrieveDataResponse(True, records=[])
        client = session.client_for(cat, ctx.credentials.secret_arn if ctx and ctx.credentials else None)
        query = Query(entity.name, tuple(columns), InList(id_field, ids), None)
        records: list[str] = []
        nbytes = 0
        for page in reader.read(client, cat, query, deadline=call_deadline(self.lambda_context)):
            row_ids = page.batch.column(id_field).to_pylist() if id_field in page.batch.schema.names else None
            for i, text in enumerate(record_texts(page.batch, page.batch.schema.names)):
                size = _json_size(text)
                if size > RESPONSE_BUDGET_BYTES:
                    raise record_too_large(entity, text, row_ids[i] if row_ids is not None else None)
                if nbytes + size > RESPONSE_BUDGET_BYTES:
                    raise ConnectorError(
                        r.ErrorCode.InvalidArgument,
                        f"the {len(ids)} ids asked of {entity.name} return more than one answer may hold "
                        f"({RESPONSE_BUDGET_BYTES:,} bytes, under AppFlow's 6 MB limit); ask for at most "
                        f"{max(1, len(records))} ids per RetrieveData call",
                    )
                records.append(text)
                nbytes += size
        return r.RetrieveDataResponse(True, records=records)

    def write_data(self, request: rq.WriteDataRequest):
        from appflow_connector.writes import write_data

        return write_data(request)
