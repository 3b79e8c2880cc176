"""The one read pipeline both connectors use: plan → API pages → Arrow → residual → projection → limit.

Streams page by page. Every `ReadPage` carries the state that continues right after it, so a
caller that runs out of time resumes exactly there.

Read-ahead: once the caller comes back for a second page (it streams), the next API page is
fetched in a background thread while the current one is converted, filtered and handed over;
at most one page ahead, so about two pages are in memory. No page is fetched ahead that a LIMIT
could make unnecessary, and closing the reader waits for the one fetch in flight, if any.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from saasbridge.arrow.convert import RecordConverter
from saasbridge.catalog.model import Catalog, Entity
from saasbridge.client.client import Page
from saasbridge.client.paginators import make_paginator
from saasbridge.client.properties import with_properties
from saasbridge.errors import ApiError, DeadlineExceeded, QueryError
from saasbridge.query import residual as residual_filter
from saasbridge.query.ir import Expr, Query, and_all, columns_of, conjuncts
from saasbridge.query.planner import Plan, plan
from saasbridge.query.search_plan import split_window, window_expr


@dataclass
class ReadPage:
    batch: pa.RecordBatch
    resume: dict | None  # continues right after this page; None = finished
    api_bytes: int = 0  # body bytes of the API answer the page came from (0: not from a listing)


class _PageFetcher:
    """The pages of one listing, fetched at most one page ahead: `start()` begins fetching the
    next page in a short-lived thread, `take()` returns it (or fetches it in the caller's thread
    when nothing was started). Only one thread advances the listing at any time."""

    def __init__(self, pages: Iterator[Page]):
        self._pages = pages
        self._thread: threading.Thread | None = None
        self._page: Page | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._fetch, name="saasbridge-read-ahead", daemon=True)
            self._thread.start()

    def _fetch(self) -> None:
        try:
            self._page = next(self._pages, None)
        except BaseException as exc:  # handed to the caller by take(), at the page it belongs to
            self._error = exc

    def take(self) -> Page | None:
        """The next page; None when the listing is finished. Raises what fetching it raised."""
        if self._thread is None:
            return next(self._pages, None)
        self._thread.join()
        self._thread = None
        page, error, self._page, self._error = self._page, self._error, None, None
        if error is not None:
            raise error
        return page

    def close(self) -> None:
        """Wait for the fetch in flight (its page is dropped) and end the listing."""
        if self._thread is threading.current_thread():
            # The garbage collector finalised the abandoned read inside the fetch itself: the
            # listing is mid-step here and cannot be closed; it ends when it is released.
            return
        if self._thread is not None:
            self._thread.join()
        self._thread = None
        self._page = self._error = None
        self._pages.close()  # type: ignore[attr-defined]


class _ListingsAhead:
    """The first pages of the next listings of a series (id batches, bound path values), fetched
    up to `width` at a time in threads; the rest of each listing is read in the caller's thread.
    `width` 1: nothing is fetched ahead."""

    def __init__(self, open_listing: Callable[[int], Iterator[Page]], indexes: range, width: int):
        self._open = open_listing
        self._indexes = indexes
        self._width = width
        self._running: dict[int, Future[tuple[Page | None, Iterator[Page]]]] = {}
        self._pool = ThreadPoolExecutor(width, thread_name_prefix="saasbridge-listing") if width > 1 else None

    def _first(self, index: int) -> tuple[Page | None, Iterator[Page]]:
        listing = self._open(index)
        return next(listing, None), listing

    def pages(self, index: int) -> Iterator[Page] | None:
        """Listing `index`'s pages when it was fetched ahead (None: read it as usual)."""
        if self._pool is None or index not in self._indexes:
            return None
        for j in range(index, min(index + self._width, self._indexes.stop)):
            if j not in self._running:
                self._running[j] = self._pool.submit(self._first, j)
        return _continued(self._running.pop(index))

    def close(self) -> None:
        """Drop what was fetched ahead and not read (its listings closed)."""
        if self._pool is None:
            return
        for future in self._running.values():
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for future in self._running.values():
            if not future.cancelled() and future.exception() is None:
                future.result()[1].close()  # type: ignore[attr-defined]
        self._running.clear()


def _continued(future: Future[tuple[Page | None, Iterator[Page]]]) -> Iterator[Page]:
    """A listing whose first page comes from `future`, the rest from the listing itself."""
    page, listing = future.result()
    try:
        if page is not None:
            yield page
            yield from listing
    finally:
        listing.close()  # type: ignore[attr-defined]


class Reader:
    """Read `query` through `client` (a SaasClient, or a Runtime whose `.client()` gives one).
    `extra` is ANDed into the query (a split's window); `extra_residual`, when given, is what
    the residual filter checks in its place.

    An iterator of `ReadPage`s; `.plan` is the plan used (for --explain), `.rows` the rows
    returned so far, `.converter.warnings` the values of the wrong type turned into null.
    `prefetch=False` turns read-ahead off; `close()` (or `with`) ends a read early. `in_flight` > 1
    lets a listing whose next pages are known ahead (page numbers or offsets with a known total)
    keep that many requests running, for a caller that reads it to its end (no LIMIT)."""

    def __init__(
        self,
        client: Any,
        catalog: Catalog,
        query: Query,
        *,
        deadline: Any = None,
        resume: dict | None = None,
        extra: Expr | None = None,
        extra_residual: Expr | None = None,
        page_size: int | None = None,
        prefetch: bool = True,
        in_flight: int = 1,
    ):
        self.client = getattr(client, "client", lambda: client)() if _is_runtime(client) else client
        if catalog.entity(query.entity).properties is not None:
            catalog = with_properties(catalog, self.client, query.entity)
        self.catalog = catalog
        where = query.where
        if extra is not None:
            query = replace(query, where=and_all(conjuncts(where) + conjuncts(extra)))
        self.query = query
        self.plan: Plan = plan(catalog, query, page_size=page_size)
        self._residual_override: Expr | None = None
        if extra_residual is not None and self.plan.residual is not None:
            # `extra` is pushed into the API; the residual checks its looser form instead
            self.plan.residual = and_all(conjuncts(where) + conjuncts(extra_residual))
            self._residual_override = self.plan.residual
        entity = self.plan.entity
        self.columns = list(query.columns) if query.columns is not None else entity.column_names
        needed = set(self.columns) | columns_of(self.plan.residual)
        if self.plan.cap is not None:
            needed.add(self.plan.cap.field)  # each window's residual checks it
        read_columns = [c for c in entity.column_names if c in needed]
        self.converter = RecordConverter(entity, read_columns)
        self.deadline = deadline
        self._state = _check_resume(resume, self.plan.mode)
        self.rows = int(self._state.get("rows", 0))
        self.prefetch = prefetch
        self.in_flight = max(1, in_flight) if self.plan.limit is None else 1  # a LIMIT may stop early
        self._served = 0  # pages the caller has taken; read-ahead starts when it asks for a second
        self._pages = self._run()

    def __iter__(self) -> Iterator[ReadPage]:
        return self

    def __next__(self) -> ReadPage:
        page = next(self._pages)
        self._served += 1
        return page

    def close(self) -> None:
        """Stop reading: the page being fetched ahead, if any, is awaited and dropped."""
        self._pages.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([self.converter.schema.field(c) for c in self.columns])

    # ---- pipeline --------------------------------------------------------------------------

    def _run(self) -> Iterator[ReadPage]:
        mode = self.plan.mode
        if mode == "empty" or self._limit_met():
            yield ReadPage(_empty(self.schema), None)
            return
        if mode == "get":
            yield from self._get()
        elif self.plan.parent_query is not None:
            yield from self._fan_out()
        elif self.plan.scopes is not None:
            yield from self._series(mode, [(self.plan.params, None, s) for s in self.plan.scopes])
        elif self.plan.cap is not None:
            yield from self._capped()
        elif mode == "list":
            yield from self._list(dict(self.plan.params), "list", {}, endpoint=self.plan.endpoint)
        else:
            yield from self._series(mode, [(*self.plan.id_request(b), {}) for b in self.plan.id_batches()])

    def _series(self, mode: str, series: list[tuple[dict, Any, dict[str, Any]]]) -> Iterator[ReadPage]:
        """One listing per (parameters, endpoint, path values) in turn: id batches, or the path
        values a query binds; the resume state says which listing (`batch`) and where in it. With
        `in_flight` > 1 the first pages of the next listings are fetched that many at a time."""
        start = int(self._state.get("batch", 0))
        fresh = start if self._state.get("page") is None else start + 1  # listings read from their start
        ahead = _ListingsAhead(lambda j: self._listing(dict(series[j][0]), None, series[j][2], series[j][1]),
                               range(fresh, len(series)), self.in_flight)
        with closing(ahead):
            for index in range(start, len(series)):
                params, endpoint, bound = series[index]
                following = {"batch": index + 1} if index < len(series) - 1 else None
                with closing(self._list(dict(params), mode, {"batch": index}, following=following, bound=bound,
                                        endpoint=endpoint, pages=ahead.pages(index))) as pages:
                    for page in pages:
                        yield page
                        if page.resume is None:
                            return
                self._state = {"mode": mode, "batch": index + 1, "page": None, "rows": self.rows}

    def _fan_out(self) -> Iterator[ReadPage]:
        """A parent-scoped listing per row of the parent entity (read page by page, itself
        resumable): the state holds the parent's position of the page being worked through
        (`parent`) and the row in it (`batch`)."""
        parent = self.plan.entity.parent
        assert parent is not None and self.plan.parent_query is not None
        keys = dict(parent.keys)
        start, first = self._state.get("parent"), int(self._state.get("batch", 0))
        rows_reader = Reader(self.client, self.catalog, self.plan.parent_query, deadline=self.deadline,
                             resume=start, prefetch=False)
        with closing(rows_reader):
            while True:
                try:
                    page = next(rows_reader, None)
                except DeadlineExceeded as exc:
                    state = {"mode": "list", "parent": exc.resume, "batch": 0, "page": None, "rows": self.rows}
                    raise DeadlineExceeded(str(exc), resume=state) from exc
                if page is None:
                    break
                rows = page.batch.to_pylist()
                for j in range(first, len(rows)):
                    bound = {c: rows[j][keys[c]] for c in keys}
                    if any(v is None for v in bound.values()):
                        continue  # a parent row without the key has no listing
                    if j < len(rows) - 1:
                        following: dict | None = {"parent": start, "batch": j + 1}
                    else:
                        following = None if page.resume is None else {"parent": page.resume, "batch": 0}
                    where = {"parent": start, "batch": j}
                    with closing(self._list(dict(self.plan.params), "list", where, following=following,
                                            bound=bound)) as pages:
                        for listed in pages:
                            yield listed
                            if listed.resume is None:
                                return
                    self._state = {"mode": "list", **(following or {}), "page": None, "rows": self.rows}
                if page.resume is None:
                    break
                start, first = page.resume, 0
        yield ReadPage(_empty(self.schema), None)  # the last parent rows had no listing to end on

    def _capped(self) -> Iterator[ReadPage]:
        """A search with a result cap: a window (of the cap field) whose first page says more rows
        than the cap is cut in two, lower half first, until each fits; the windows cover every
        value once and the residual keeps each row to its window. The resume state holds the
        windows still to read (`windows`, epoch ms or None = open) and where in the first."""
        windows = [tuple(_instant(x) for x in w) for w in self._state.get("windows", [[None, None]])]
        now = dt.datetime.now(dt.UTC)
        while windows:
            window = windows[0]
            plan_w = plan(self.catalog, self.query, page_size=self.plan.page_size, window=window)  # type: ignore[arg-type]
            if self._residual_override is not None and plan_w.cap is not None:
                plan_w.residual = and_all(conjuncts(self._residual_override) + conjuncts(window_expr(plan_w.cap)))
            rest = [[_ms(x) for x in w] for w in windows[1:]]
            where = {"windows": [[_ms(x) for x in window], *rest]}
            following = {"windows": rest} if rest else None
            self.plan.residual = plan_w.residual
            if plan_w.mode == "empty":
                windows = windows[1:]
                continue
            with closing(self._list(dict(plan_w.params), "list", where, following=following,
                                    endpoint=plan_w.endpoint, cap=plan_w.cap)) as pages:
                try:
                    for page in pages:
                        yield page
                        if page.resume is None:
                            return
                except _OverCap as over:
                    halves = split_window(over.cap, now)
                    if halves is None:
                        raise ApiError(
                            f"{over.total} rows of {self.plan.entity.name} fall in one "
                            f"{_UNIT_NAMES.get(over.cap.unit, over.cap.unit)} of {over.cap.field}, more than the search's cap of "
                            f"{over.cap.max_results}; read them through the list endpoint (a query without "
                            "search filters)"
                        ) from None
                    windows = [tuple(h) for h in halves] + windows[1:]  # type: ignore[misc]
                    self._state = {"mode": "list", "windows": [[_ms(x) for x in w] for w in windows],
                                   "page": None, "rows": self.rows}
                    continue
            windows = windows[1:]
            self._state = {"mode": "list", "windows": [[_ms(x) for x in w] for w in windows], "page": None,
                           "rows": self.rows}
        yield ReadPage(_empty(self.schema), None)

    def _listing(self, params: dict, position: dict | None, bound: dict[str, Any] | None,
                 endpoint: Any = None) -> Iterator[Page]:
        """The client's pages of one listing from `position`; `bound`: path values; `endpoint`: a
        search or batch read instead of the list path."""
        entity = self.plan.entity
        return self.client.list_pages(
            entity, params, page_size=self.plan.page_size, resume=position, deadline=self.deadline,
            **({"path": _fill_path(entity.path, bound)} if bound else {}),
            **({"endpoint": endpoint} if endpoint is not None else {}),
            **({"in_flight": self.in_flight} if self.in_flight > 1 else {}),
        )

    def _list(self, params: dict, mode: str, where: dict, *, following: dict | None = None,
              bound: dict[str, Any] | None = None, endpoint: Any = None, cap: Any = None,
              pages: Iterator[Page] | None = None) -> Iterator[ReadPage]:
        """The pages of one listing. `following`: where the next listing starts (its resume
        after this one's last page), None when this is the last; `bound`: path values;
        `endpoint`: a search or batch read instead of the list path; `cap`: the search's result
        cap, checked against the total of the listing's first page (raises _OverCap); `pages`:
        the listing's pages when already under way (fetched ahead)."""
        position = self._state.get("page") if self._state.get("mode") == mode and self._same(where) else None
        entity = self.plan.entity
        fetcher = _PageFetcher(pages if pages is not None else self._listing(params, position, bound, endpoint))
        first = position is None
        try:
            while True:
                try:
                    page = fetcher.take()
                except DeadlineExceeded as exc:
                    state = {"mode": mode, **where, "page": exc.resume, "rows": self.rows}
                    raise DeadlineExceeded(str(exc), resume=state) from exc
                if page is None:
                    return
                if first and cap is not None and page.total is not None and page.total > cap.max_results:
                    raise _OverCap(cap, page.total)
                first = False
                if page.resume is not None and self._read_ahead(len(page.records)):
                    fetcher.start()
                if bound:
                    _bind(entity, page.records, bound)
                batch = self._finish(page.records)
                done = self._limit_met()
                if page.resume is not None and not done:
                    resume: dict | None = {"mode": mode, **where, "page": page.resume, "rows": self.rows}
                elif following is not None and not done:
                    resume = {"mode": mode, **following, "page": None, "rows": self.rows}
                else:
                    resume = None
                self._state = resume or {}
                yield ReadPage(batch, resume, page.nbytes)
                if done:
                    return
        finally:
            fetcher.close()

    def _read_ahead(self, records: int) -> bool:
        """Fetch the next page while this one is processed? Only for a caller that streams (it
        came back for a second page: a caller that takes one page per call would waste the
        request), and only when this page cannot complete the LIMIT, so the next page is needed
        anyway and LIMIT queries make no request more than without read-ahead."""
        if not self.prefetch or self._served == 0:
            return False
        return self.plan.limit is None or self.rows + records < self.plan.limit

    def _get(self) -> Iterator[ReadPage]:
        ids = self.plan.ids
        for index in range(int(self._state.get("index", 0)), len(ids)):
            if self.deadline is not None and self.deadline.expired:
                raise DeadlineExceeded(
                    "no time left to fetch the next record", resume={"mode": "get", "index": index, "rows": self.rows}
                )
            record = self.client.get(self.plan.entity, ids[index])
            batch = self._finish([record] if record is not None else [])
            done = self._limit_met() or index == len(ids) - 1
            yield ReadPage(batch, None if done else {"mode": "get", "index": index + 1, "rows": self.rows})
            if done:
                return

    def _finish(self, records: list[dict]) -> pa.RecordBatch:
        batch = self.converter.convert(records)
        if batch.num_columns == 0 and batch.num_rows != len(records):
            # count(*) reads no column; the rows still count (a batch without columns has no rows)
            batch = pa.record_batch({"_": pa.nulls(len(records))}).select([])
        batch = residual_filter.apply(self.plan.residual, batch)
        batch = batch.select(self.columns)
        if self.plan.limit is not None:
            batch = batch.slice(0, max(0, self.plan.limit - self.rows))
        self.rows += batch.num_rows
        return batch

    def _limit_met(self) -> bool:
        return self.plan.limit is not None and self.rows >= self.plan.limit

    def _same(self, where: dict) -> bool:
        return all(self._state.get(k) == v for k, v in where.items())


class _OverCap(Exception):
    """A capped search's window holds more rows than the cap: it must be cut."""

    def __init__(self, cap: Any, total: int):
        super().__init__(total)
        self.cap = cap
        self.total = total


def _ms(t: dt.datetime | None) -> int | None:
    return None if t is None else (t - _EPOCH) // dt.timedelta(milliseconds=1)


def _instant(ms: int | None) -> dt.datetime | None:
    return None if ms is None else _EPOCH + dt.timedelta(milliseconds=int(ms))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_UNIT_NAMES = {dt.timedelta(milliseconds=1): "millisecond", dt.timedelta(seconds=1): "second",
               dt.timedelta(days=1): "day"}


def resized_resume(catalog: Catalog, entity: Entity, resume: dict | None, page_size: int, *,
                   endpoint: Any = None) -> dict | None:
    """A page's `resume` that continues with API pages of `page_size` records (pass the same
    `page_size` to `read`); None when the listing cannot change its page size there (a next-page
    URL carries its own, a page number must land on a boundary of the new size). `endpoint`: the
    plan's search or batch read, whose pagination the listing follows."""
    if resume is None or resume.get("page") is None:
        return resume
    pagination = (getattr(endpoint, "pagination", None) if endpoint is not None else None) \
        or catalog.pagination_for(entity)
    paginator = make_paginator(pagination, page_size)
    try:
        paginator.restore(resume["page"])
    except QueryError:  # a listing of another style (one of a series' endpoints): keep its size
        return None
    if not paginator.resize(page_size):
        return None
    return {**resume, "page": paginator.state()}


def _fill_path(template: str, bound: dict[str, Any]) -> str:
    """A parent-scoped path with its placeholders filled (each value URL-quoted)."""
    for column, value in bound.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        template = template.replace("{" + column + "}", quote(text, safe=""))
    return template


def _bind(entity: Entity, records: list[dict], bound: dict[str, Any]) -> None:
    """Put the path values into the records that do not carry them, so they appear in the rows."""
    for column, value in bound.items():
        key = entity.field(column).api_name
        for record in records:
            if isinstance(record, dict) and record.get(key) is None:
                record[key] = value


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)


def _is_runtime(obj: Any) -> bool:
    return not hasattr(obj, "list_pages") and callable(getattr(obj, "client", None))


def _check_resume(resume: dict | None, mode: str) -> dict:
    if resume is None:
        return {}
    if not isinstance(resume, dict) or resume.get("mode") != mode:
        raise QueryError(
            f"resume state {resume!r} does not belong to this read (plan mode {mode}); "
            "pass the resume of a page of the same query"
        )
    return dict(resume)


# The entry point the connectors call (docs/architecture.md): the reader itself.
read = Reader
