"""The one read pipeline both connectors use: plan → API pages → Arrow → residual → projection → limit.

Streams page by page (one API page in memory at a time). Every `ReadPage` carries the state that
continues right after it, so a caller that runs out of time resumes exactly there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from saasbridge.arrow.convert import RecordConverter
from saasbridge.catalog.model import Catalog
from saasbridge.errors import DeadlineExceeded, QueryError
from saasbridge.query import residual as residual_filter
from saasbridge.query.ir import Expr, Query, and_all, columns_of, conjuncts
from saasbridge.query.planner import Plan, plan


@dataclass
class ReadPage:
    batch: pa.RecordBatch
    resume: dict | None  # continues right after this page; None = finished


class Reader:
    """An iterator of `ReadPage`s; `.plan` is the plan used (for --explain), `.rows` the rows
    returned so far, `.converter.warnings` the values of the wrong type turned into null."""

    def __init__(
        self,
        client: Any,
        catalog: Catalog,
        query: Query,
        *,
        deadline: Any = None,
        resume: dict | None = None,
        extra: Expr | None = None,
        page_size: int | None = None,
    ):
        self.client = getattr(client, "client", lambda: client)() if _is_runtime(client) else client
        self.catalog = catalog
        if extra is not None:
            query = replace(query, where=and_all(conjuncts(query.where) + conjuncts(extra)))
        self.query = query
        self.plan: Plan = plan(catalog, query, page_size=page_size)
        entity = self.plan.entity
        self.columns = list(query.columns) if query.columns is not None else entity.column_names
        needed = set(self.columns) | columns_of(self.plan.residual)
        read_columns = [c for c in entity.column_names if c in needed]
        self.converter = RecordConverter(entity, read_columns)
        self.deadline = deadline
        self._state = _check_resume(resume, self.plan.mode)
        self.rows = int(self._state.get("rows", 0))
        self._pages = self._run()

    def __iter__(self) -> Iterator[ReadPage]:
        return self

    def __next__(self) -> ReadPage:
        return next(self._pages)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([self.converter.schema.field(c) for c in self.columns])

    # ---- pipeline --------------------------------------------------------------------------

    def _run(self) -> Iterator[ReadPage]:
        mode = self.plan.mode
        if mode == "empty" or self._limit_met():
            yield ReadPage(_empty(self.schema), None)
            return
        if mode == "list":
            yield from self._list(dict(self.plan.params), "list", {})
        elif mode == "ids":
            batches = self.plan.id_batches()
            start = int(self._state.get("batch", 0))
            for index in range(start, len(batches)):
                params = {**self.plan.params, self.plan.entity.ids_param: ",".join(batches[index])}  # type: ignore[dict-item]
                last = index == len(batches) - 1
                for page in self._list(params, "ids", {"batch": index}, final=last):
                    yield page
                    if page.resume is None:
                        return
                self._state = {"mode": "ids", "batch": index + 1, "page": None, "rows": self.rows}
        else:
            yield from self._get()

    def _list(self, params: dict[str, str], mode: str, where: dict, *, final: bool = True) -> Iterator[ReadPage]:
        position = self._state.get("page") if self._state.get("mode") == mode and self._same(where) else None
        pages = self.client.list_pages(
            self.plan.entity, params, page_size=self.plan.page_size, resume=position, deadline=self.deadline
        )
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except DeadlineExceeded as exc:
                state = {"mode": mode, **where, "page": exc.resume, "rows": self.rows}
                raise DeadlineExceeded(str(exc), resume=state) from exc
            batch = self._finish(page.records)
            done = self._limit_met()
            if page.resume is not None and not done:
                resume: dict | None = {"mode": mode, **where, "page": page.resume, "rows": self.rows}
            elif not final and not done:
                resume = {"mode": mode, "batch": where["batch"] + 1, "page": None, "rows": self.rows}
            else:
                resume = None
            self._state = resume or {}
            yield ReadPage(batch, resume)
            if done:
                return

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


def read(
    client: Any,
    catalog: Catalog,
    query: Query,
    *,
    deadline: Any = None,
    resume: dict | None = None,
    extra: Expr | None = None,
    page_size: int | None = None,
) -> Reader:
    """Read `query` through `client` (a SaasClient, or a Runtime whose `.client()` gives one)."""
    return Reader(client, catalog, query, deadline=deadline, resume=resume, extra=extra, page_size=page_size)
