"""QueryData and RetrieveData: filter DSL → IR → saasbridge.query.reader, pages as AppFlow records.

Each QueryData call stops well inside AppFlow's limits (30 s, 6 MB) and returns what it has plus a
nextToken; the token resumes exactly where the page stopped, even in the middle of an API page.
"""

from __future__ import annotations

import bisect
import os
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


class QueryPager:
    """Runs one QueryData call: reads from a position until a page is full or a budget runs out."""

    def __init__(
        self, client, cat, entity: Entity, columns: list[str], where, limit: int | None, deadline: Deadline,
        page_size: int | None = None,
    ):  # fmt: skip
        self.client, self.catalog, self.entity = client, cat, entity
        self.columns, self.where, self.limit, self.deadline = columns, where, limit, deadline
        self.page_size = page_size  # the pageSize runtime setting (None = the API's default)

    def run(self, pos: tokens.Position, want: int) -> tuple[list[str], tokens.Position | None]:
        from saasbridge.query import reader

        pk = self.entity.primary_key
        read_columns = list(self.columns)
        if pk and pk not in read_columns:
            read_columns.append(pk)  # needed to resume by identity inside a page
        # The reader counts LIMIT across resumes itself (its resume state carries the row count).
        query = Query(self.entity.name, tuple(read_columns), self.where, self.limit)
        records: list[str] = []
        nbytes = 0
        page_start, skip, last_id = pos.page, pos.skip, pos.last_id
        try:
            for page in reader.read(
                self.client, self.catalog, query, deadline=self.deadline, resume=page_start,
                page_size=self.page_size,
            ):  # fmt: skip
                batch = page.batch
                count = batch.num_rows
                ids = batch.column(pk).to_pylist() if pk else None
                i = _start_index(ids, count, skip, last_id)
                # Render (column-wise) only the rows this call can still return.
                take = max(0, min(count - i, want - len(records)))
                for text in record_texts(batch.slice(i, take), self.columns) if take else ():
                    if nbytes >= RESPONSE_BUDGET_BYTES:
                        break
                    records.append(text)
                    nbytes += len(orjson.dumps(text)) + 1  # escaped, as it travels inside the response
                    i += 1
                if i < count:  # the call is full (records or bytes): resume inside this page
                    prev = ids[i - 1] if ids is not None and i > 0 else last_id
                    return records, tokens.Position(page_start, i, prev, pos.emitted + len(records))
                if page.resume is None:
                    return records, None
                page_start, skip, last_id = page.resume, 0, None
                if len(records) >= want or nbytes >= RESPONSE_BUDGET_BYTES or self.deadline.expired:
                    return records, tokens.Position(page_start, 0, None, pos.emitted + len(records))
        except DeadlineExceeded:
            # Nothing of the page being fetched was returned: continue from its start.
            return records, tokens.Position(page_start, skip, last_id, pos.emitted + len(records))
        return records, None


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
        for page in reader.read(client, cat, query, deadline=call_deadline(self.lambda_context)):
            records.extend(record_texts(page.batch, page.batch.schema.names))
        return r.RetrieveDataResponse(True, records=records)

    def write_data(self, request: rq.WriteDataRequest):
        from appflow_connector.writes import write_data

        return write_data(request)
