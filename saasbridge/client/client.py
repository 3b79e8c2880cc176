"""SaasClient: requests to one SaaS API with auth, pagination, retries, rate budget and deadlines."""

from __future__ import annotations

import copy
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import orjson

from saasbridge.catalog.model import Catalog, Entity, RateBudget, WriteOp, WriteOperation
from saasbridge.catalog.templates import set_path
from saasbridge.client.auth import AuthStrategy, TokenStore, build_auth
from saasbridge.client.credentials import Credentials
from saasbridge.client.deadline import Deadline, RequestTimer
from saasbridge.client.endpoint import Endpoint
from saasbridge.client.http import Response, Transport, TransportError, display_url, origin_key, same_origin
from saasbridge.client.paginators import PageRequest, extract_records, make_paginator
from saasbridge.client.ratelimit import RateLimiter, shared_rate_limiter
from saasbridge.client.retry import RetryPolicy, body_path, parse_retry_after
from saasbridge.client.stats import ClientStats, Usage
from saasbridge.errors import (
    ApiError,
    ApiUnavailableError,
    AuthenticationError,
    BadRequestError,
    DeadlineExceeded,
    NotFoundError,
    QueryError,
    RateLimitedError,
)

log = logging.getLogger("saasbridge.client")

# A query parameter's value: a list repeats the key (`?status=a&status=b`).
QueryValue = str | list[str]

# Methods that may be sent again after an ambiguous failure (a 500, or a connection dropped after
# the request left): a repeated POST could create a record twice.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


@dataclass
class Page:
    records: list[dict]
    resume: dict | None  # state that fetches the next page; None = the listing is finished
    nbytes: int  # body bytes of this page
    total: int | None = None  # the listing's total row count, when the API says it (`total_path`)


@dataclass(frozen=True)
class WriteResult:
    ok: bool
    id: str | None = None
    error: str | None = None


class SaasClient:
    """Thread-safe: one instance may serve many threads; each `list_pages` call keeps its own state."""

    def __init__(
        self,
        catalog: Catalog,
        credentials: Credentials | None = None,
        *,
        transport: Transport | None = None,
        rate_budget: RateLimiter | RateBudget | None = None,
        auth: AuthStrategy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        timer: RequestTimer | None = None,
        token_store: TokenStore | None = None,
    ):
        self.catalog = catalog
        self.base_url = catalog.base_url.rstrip("/")
        self.credentials = credentials if credentials is not None else Credentials()
        budget = rate_budget if isinstance(rate_budget, RateBudget) else catalog.rate_limit
        self.transport = transport or Transport(max_connections=max(2, budget.max_concurrency))
        if isinstance(rate_budget, RateLimiter):
            self.rate_limiter = rate_budget
        else:
            self.rate_limiter = shared_rate_limiter(
                origin_key(self.base_url), self.credentials.identity(), budget, catalog=catalog.name
            )
        self.retry = RetryPolicy(catalog.retry, rng=rng)
        self.stats = ClientStats()
        self._clock = clock
        self._sleep = sleep
        self.timer = timer or RequestTimer()
        self._headers = {"Accept": "application/json", "User-Agent": "saasbridge", **dict(catalog.headers)}
        self.auth = auth or build_auth(
            catalog.auth,
            self.credentials,
            base_url=self.base_url,
            send=self._send_without_auth,
            clock=clock,
            token_store=token_store,
        )

    # ---- public API -------------------------------------------------------------------------

    def admit_scan(self) -> None:
        """Refuse a new scan when the shared budget's request quota is (nearly) spent
        (`QuotaExhaustedError`); reads already running are not asked."""
        self.rate_limiter.bucket.admit_scan()

    def record_usage(self, kind: str, run_id: str, usage: Usage) -> None:
        """Add one invocation's usage to its query's or flow run's record in the shared budget."""
        self.rate_limiter.bucket.record_usage(kind, run_id, usage.budget_counts())

    def list_pages(
        self,
        entity: Entity,
        params: Mapping[str, QueryValue],
        *,
        page_size: int,
        resume: dict | None = None,
        deadline: Deadline | None = None,
        path: str | None = None,
        endpoint: Endpoint | None = None,
        in_flight: int = 1,
    ) -> Iterator[Page]:
        """Pages of the entity's list endpoint, fetched lazily; resume with a page's `resume`.
        `path` replaces the entity's path (a parent-scoped path with its placeholders filled); a
        404 on its first page is an empty listing (no such parent), as `get` reads a 404.
        `endpoint` replaces the list endpoint (a search, a batch read): its method, body, paging
        and records path; with a body, the paging parameters go into it. `in_flight` > 1: up to
        that many page requests run at once where the next pages are known before the answers
        (page numbers or offsets with a known total); answers are still read in order, so the
        pages and resume states are those of a sequential listing."""
        pagination = (endpoint.pagination if endpoint else None) or self.catalog.pagination_for(entity)
        paginator = make_paginator(pagination, page_size, resolve_url=self._resolve_next)
        if resume is not None:
            paginator.restore(resume)
        records_path = self.catalog.records_path_for(entity)
        if endpoint is not None and endpoint.records_path is not None:
            records_path = endpoint.records_path
        method = endpoint.method.upper() if endpoint else "GET"
        list_url = self._url(endpoint.path if endpoint else (path or entity.path))
        static = self.catalog.params_for(entity)
        first = resume is None

        def target(request: PageRequest) -> _PageCall:
            if request.url is not None:  # the API's next-page URL, with the static parameters it may have dropped
                return _PageCall(request.url, static)
            if endpoint is not None and endpoint.in_body:
                body, headers = self._json_body(_with_paging(endpoint.body, request.params, pagination))
                return _PageCall(list_url, {**static, **params}, body, headers)
            return _PageCall(list_url, {**static, **params, **request.params})

        def fetch(call: _PageCall, position: dict | None) -> Response:
            return self._exchange(
                method, call.url, params=call.query, headers=call.headers, body=call.body, deadline=deadline,
                resume=position, idempotent=True,  # a listing (a search POST too) changes nothing: safe to send again
            )

        ahead = _PagesAhead(fetch, in_flight)
        try:
            while not paginator.done:
                position = paginator.state()
                call = target(paginator.next_request())
                known = [target(r) for r in paginator.predicted(in_flight)] if in_flight > 1 else []
                response = ahead.take(call, position, known)
                if response.status == 404 and path is not None and first:
                    yield Page([], None, len(response.body))
                    return
                first = False
                self._raise_for_status(response, method)
                answer = response.json()
                records = extract_records(answer, records_path, response.url)
                paginator.advance(response, answer, records)
                total = body_path(answer, pagination.total_path) if pagination.total_path else None
                yield Page(
                    records,
                    None if paginator.done else paginator.state(),
                    len(response.body),
                    int(total) if isinstance(total, int | float) and not isinstance(total, bool) else None,
                )
        finally:
            ahead.close()

    def get(self, entity: Entity, id: str, *, deadline: Deadline | None = None) -> dict | None:  # noqa: A002
        """One record by id; None when the API answers 404."""
        if entity.get_path is None:
            if entity.ids_param:
                found = self.get_many(entity, [id], deadline=deadline)
                return found[0] if found else None
            raise QueryError(f"entity {entity.name!r} has neither get_path nor ids_param; cannot fetch by id")
        url = self._url(self._id_path(entity.get_path, id))
        response = self._exchange("GET", url, params=self.catalog.params_for(entity), deadline=deadline)
        if response.status == 404:
            return None
        self._raise_for_status(response, "GET")
        record = response.json()
        return record if isinstance(record, dict) else None

    def get_many(self, entity: Entity, ids: Sequence[str], *, deadline: Deadline | None = None) -> list[dict]:
        """Records for these ids through the ids-list parameter, `ids_max` per request."""
        if not entity.ids_param:
            return [r for r in (self.get(entity, i, deadline=deadline) for i in ids) if r is not None]
        records: list[dict] = []
        step = max(1, entity.ids_max)
        for start in range(0, len(ids), step):
            chunk = list(ids[start : start + step])
            for page in self.list_pages(
                entity, {entity.ids_param: ",".join(chunk)}, page_size=len(chunk), deadline=deadline
            ):
                records.extend(page.records)
        return records

    def probe(self, entity: Entity | None = None, *, deadline: Deadline | None = None) -> Response:
        """One cheap authenticated request: the first page of one record of `entity` (default: the
        first entity whose path has no placeholders), asked with every paging parameter the first
        page takes (`page=1`, `offset=0`), so that no API answers with a whole collection."""
        entity = entity or probe_entity(self.catalog)
        path, params = probe_request(self.catalog, entity)
        return self.request("GET", path, params=params, deadline=deadline)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        json: Any = None,
        deadline: Deadline | None = None,
    ) -> Response:
        """One request with auth, retries and rate budget; raises for any answer that is not 2xx."""
        method = method.upper()
        body, headers = self._json_body(json)
        response = self._exchange(
            method, self._url(path_or_url), params=params, headers=headers, body=body, deadline=deadline
        )
        self._raise_for_status(response, method)
        return response

    def write(
        self, entity: Entity, op: WriteOp, records: Sequence[dict], *, deadline: Deadline | None = None
    ) -> list[WriteResult]:
        """Send records (API field names) with the entity's write operation; one result per record,
        in order. A record the API refuses (4xx) is reported; a failure that stops all writes
        (401, retries exhausted, deadline) is reported for every record not yet written."""
        operation = entity.write_operation(op)
        if operation is None:
            supported = ", ".join(w.op for w in entity.writes) or "none"
            raise QueryError(f"entity {entity.name!r} does not support {op}; supported: {supported}")
        results: list[WriteResult | None] = [None] * len(records)
        try:
            if "{id}" in operation.path:
                for index, record in enumerate(records):
                    results[index] = self._write_one(entity, operation, record, deadline)
            else:
                step = max(1, operation.batch_size)
                for start in range(0, len(records), step):
                    chunk = list(records[start : start + step])
                    results[start : start + len(chunk)] = self._write_batch(
                        entity, operation, chunk, deadline
                    )
        except (AuthenticationError, RateLimitedError, ApiUnavailableError, DeadlineExceeded) as exc:
            message = f"not written: {exc}"
            results = [r or WriteResult(False, None, message) for r in results]
        return [r for r in results if r is not None]

    def close(self) -> None:
        self.transport.close()

    def __repr__(self) -> str:
        return f"SaasClient(base_url={display_url(self.base_url)!r}, auth={self.auth!r})"

    # ---- writes -----------------------------------------------------------------------------

    def _id_field(self, entity: Entity) -> tuple[str, str]:
        """(column, api name) of the primary key."""
        key = entity.primary_key or "id"
        return key, entity.field(key).api_name if entity.has_field(key) else key

    def _record_id(self, entity: Entity, record: Mapping[str, Any]) -> str | None:
        key, api_name = self._id_field(entity)
        value = record.get(api_name, record.get(key))
        return None if value is None else str(value)

    def _write_one(
        self, entity: Entity, operation: WriteOperation, record: dict, deadline: Deadline | None
    ) -> WriteResult:
        """One record to a `{id}` path (update, upsert, delete)."""
        record_id = self._record_id(entity, record)
        if record_id is None:
            return WriteResult(
                False, None, f"record has no {self._id_field(entity)[1]!r}; {operation.op} needs it"
            )
        method = operation.method.upper()
        payload: Any = None
        if method != "DELETE":
            payload = {k: v for k, v in record.items() if k not in self._id_field(entity)}
            payload = {operation.body_key: payload} if operation.body_key else payload
        body, headers = self._json_body(payload)
        url = self._url(self._id_path(operation.path, record_id))
        response = self._exchange(
            method, url, params=self.catalog.params_for(entity), headers=headers, body=body, deadline=deadline
        )
        return self._write_outcome(response, operation, record_id)

    def _write_batch(
        self, entity: Entity, operation: WriteOperation, chunk: list[dict], deadline: Deadline | None
    ) -> list[WriteResult]:
        """Records to a collection path in one request; its answer mapped back to each record."""
        traces = [f"saasbridge-{i}" for i in range(len(chunk))] if operation.trace_key else None
        body, headers = self._json_body(self._batch_payload(entity, operation, chunk, traces))
        response = self._exchange(
            operation.method.upper(),
            self._url(operation.path),
            params=self.catalog.params_for(entity),
            headers=headers,
            body=body,
            deadline=deadline,
        )
        if not response.ok or len(chunk) == 1 and not operation.errors_path and not traces:
            return [self._write_outcome(response, operation, self._record_id(entity, r)) for r in chunk]
        answer = response.json() if response.body else None
        ids = [self._record_id(entity, r) for r in chunk]
        refs = _BatchRefs(ids, traces)
        errors = self._batch_errors(operation, answer, refs)
        return self._batch_results(entity, operation, answer, ids, errors, refs)

    def _batch_payload(
        self, entity: Entity, operation: WriteOperation, chunk: list[dict], traces: list[str] | None
    ) -> Any:
        """The request body: `{body_key: [items]}` (or the bare record/list without a key); an
        item is the record, or its fields under `item_key` with the id under `id_key`, plus a
        trace token under `trace_key`."""
        items: list[Any] = []
        id_column, id_api = self._id_field(entity)
        for index, record in enumerate(chunk):
            item: dict[str, Any] = dict(record)
            if operation.id_key or operation.item_key:
                fields = {k: v for k, v in record.items() if not operation.id_key or k not in (id_column, id_api)}
                item = {operation.item_key: fields} if operation.item_key else fields
                if operation.id_key and (record_id := self._record_id(entity, record)) is not None:
                    item[operation.id_key] = record_id
            if traces is not None:
                item[operation.trace_key] = traces[index]  # type: ignore[index]
            items.append(item)
        if operation.body_key:
            return {operation.body_key: items}
        return items if operation.batch_size > 1 else items[0]

    def _batch_errors(self, operation: WriteOperation, answer: Any, refs: _BatchRefs) -> dict[int, str]:
        """Per-item errors by input index: each names its item by index, trace token or id."""
        errors: dict[int, str] = {}
        for item in (body_path(answer, operation.errors_path) if operation.errors_path else None) or []:
            if not isinstance(item, dict):
                continue
            text = ": ".join(str(item[k]) for k in ("code", "category", "message") if item.get(k))
            for index in refs.indexes(body_path(item, operation.error_ref_path)):
                errors[index] = self.credentials.redact(text or "rejected")
        return errors

    def _batch_results(
        self,
        entity: Entity,
        operation: WriteOperation,
        answer: Any,
        ids: list[str | None],
        errors: dict[int, str],
        refs: _BatchRefs,
    ) -> list[WriteResult]:
        """One result per input: its error, or its written record found by trace token or id,
        else (neither sent) by position among the records that did not fail."""
        written = body_path(answer, operation.result_path)
        written = [w for w in written if isinstance(w, dict)] if isinstance(written, list) else []
        matched: dict[int, dict] = {}
        by_ref = refs.traces is not None or (operation.id_key is not None and any(ids))
        if by_ref:
            for made in written:
                ref = made.get(operation.trace_key) if refs.traces is not None else self._record_id(entity, made)
                for index in refs.indexes(ref):
                    matched.setdefault(index, made)
        else:
            succeeded = [i for i in range(len(ids)) if i not in errors]
            if len(written) == len(succeeded):  # written records come in input order, errors left out
                matched = dict(zip(succeeded, written, strict=True))
        results: list[WriteResult] = []
        for index, record_id in enumerate(ids):
            if index in errors:
                results.append(WriteResult(False, record_id, errors[index]))
            elif index in matched:
                results.append(WriteResult(True, self._record_id(entity, matched[index]) or record_id, None))
            elif by_ref:
                results.append(WriteResult(False, record_id, "the API's answer has no result for this record"))
            else:
                results.append(WriteResult(True, record_id, None))
        return results

    def _write_outcome(
        self, response: Response, operation: WriteOperation, record_id: str | None
    ) -> WriteResult:
        if response.ok:
            answer = response.json() if response.body else None
            made = body_path(answer, operation.result_path)
            if isinstance(made, list) and len(made) == 1:
                made = made[0]
            found = made.get("id") if isinstance(made, dict) else None
            return WriteResult(True, str(found) if found is not None else record_id, None)
        if response.status == 401:
            self._raise_for_status(response, operation.method.upper())
        return WriteResult(False, record_id, f"HTTP {response.status}: {self._api_message(response)}")

    # ---- one exchange: rate budget, deadline, auth, retries ---------------------------------

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        deadline: Deadline | None = None,
        resume: dict | None = None,
        authenticate: bool = True,
        idempotent: bool | None = None,
    ) -> Response:
        """Send until an answer that is not retried; returns it whatever its status. `idempotent`
        (default: by method) says whether an ambiguous failure may be sent again."""
        idempotent = method in IDEMPOTENT if idempotent is None else idempotent
        attempts = self.retry.max_attempts
        attempt = 0
        refreshed = False
        where = f"{method} {display_url(url)}"
        while True:
            attempt += 1
            request_headers = {**self._headers, **(headers or {})}
            query = dict(params or {})
            used = self.auth.apply(request_headers, query) if authenticate else None
            self._wait_for_turn(deadline, resume)
            try:
                response = self._send(
                    method, _with_query(url, query), request_headers, body, deadline, resume
                )
            except TransportError as exc:
                if attempt >= attempts or (exc.sent and not idempotent):
                    raise ApiUnavailableError(f"{exc} after {attempt} attempt(s); retry later") from None
                self._pause(
                    self.retry.backoff(attempt), deadline, resume, where, f"no answer, attempt {attempt}"
                )
                continue
            self.rate_limiter.observe(response.headers)
            if response.status == 401 and authenticate and not refreshed and self.auth.refresh(used):
                refreshed = True
                attempt -= 1  # a fresh credential is not a retry of a failing API
                self.stats.add(retries=1)
                log.debug("%s -> HTTP 401, retrying once with a fresh credential", where)
                continue
            verdict = self.retry.verdict(response)
            if verdict == "ok":
                return response
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if verdict == "throttled":
                self.stats.add(throttled=1)
                self.rate_limiter.throttled(retry_after)
            retryable = idempotent or verdict == "throttled" or response.status == 503
            if attempt >= attempts or not retryable:
                error = RateLimitedError if verdict == "throttled" else ApiUnavailableError
                raise error(
                    f"{where} answered HTTP {response.status} {attempt} time(s); "
                    + (
                        "the API's rate limit or quota is exhausted, lower rate_limit in the catalog or retry later"
                        if verdict == "throttled"
                        else "the API is failing, retry later"
                    ),
                    status=response.status,
                    retry_after=retry_after,
                )
            # A throttled answer with Retry-After pauses the shared bucket: every thread waits it.
            delay = (
                0.0
                if verdict == "throttled" and retry_after is not None
                else self.retry.delay(attempt, response)
            )
            self._pause(delay, deadline, resume, where, f"HTTP {response.status}, attempt {attempt}")

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        deadline: Deadline | None,
        resume: dict | None = None,
    ) -> Response:
        with _Slot(self.rate_limiter.slots, deadline, self.timer, resume):
            started = self._clock()
            timeout = None if deadline is None else max(0.001, deadline.remaining())
            try:
                response = self.transport.send(method, url, headers=headers, body=body, timeout=timeout)
            finally:
                self.timer.record(self._clock() - started)
                self.stats.add(requests=1)
        self.stats.add(bytes=len(response.body))
        return response

    def _send_without_auth(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Response:
        return self._exchange(method, url, headers=headers, body=body, authenticate=False)

    def _wait_for_turn(self, deadline: Deadline | None, resume: dict | None) -> None:
        """Take a token from the rate budget; refuse to start when the deadline cannot be met."""
        max_wait = None
        if deadline is not None:
            expected = self.timer.estimate()
            max_wait = deadline.remaining() - expected - deadline.margin
            if max_wait < 0:
                raise self._deadline_error(deadline, resume, expected)
        wait = self.rate_limiter.reserve(max_wait)
        if wait is None:
            raise DeadlineExceeded(
                "the rate budget allows no request before the deadline; continue later from the resume state",
                resume=resume,
            )
        if wait > 0:
            self._sleep(wait)
            self.stats.add(wait_seconds=wait)

    def _pause(
        self, delay: float, deadline: Deadline | None, resume: dict | None, where: str, why: str
    ) -> None:
        if deadline is not None and not deadline.allows(delay + self.timer.estimate()):
            raise self._deadline_error(deadline, resume, self.timer.estimate(), waiting=delay)
        log.debug("%s: %s; retrying in %.2fs", where, why, delay)
        self.stats.add(retries=1, wait_seconds=delay)
        if delay > 0:
            self._sleep(delay)

    def _deadline_error(
        self, deadline: Deadline, resume: dict | None, expected: float, waiting: float = 0.0
    ) -> DeadlineExceeded:
        wait = f" plus a {waiting:.2f}s wait" if waiting else ""
        return DeadlineExceeded(
            f"not enough time left for the next request ({deadline.remaining():.2f}s left, a request takes "
            f"~{expected:.2f}s{wait}); continue from the resume state",
            resume=resume,
        )

    # ---- URLs, bodies and errors ------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        if "://" in path_or_url:
            self._check_origin(path_or_url)
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def _check_origin(self, url: str) -> None:
        if not same_origin(url, self.base_url):
            parts = urlsplit(url)
            raise ApiError(
                f"refusing to send credentials to {parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}: it is not "
                f"the API's origin {display_url(self.base_url + '/').rstrip('/')}"
            )

    def _resolve_next(self, current_url: str, ref: str) -> str:
        """The absolute next-page URL, on the API's origin only, without credential parameters."""
        url = urljoin(current_url, ref)
        self._check_origin(url)
        if self.auth.secret_params:
            parts = urlsplit(url)
            kept = [
                (k, v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
                if k not in self.auth.secret_params
            ]
            url = urlunsplit(parts._replace(query=urlencode(kept)))
        return url

    @staticmethod
    def _id_path(template: str, record_id: str) -> str:
        return template.replace("{id}", quote(str(record_id), safe=""))

    @staticmethod
    def _json_body(payload: Any) -> tuple[bytes | None, dict[str, str]]:
        if payload is None:
            return None, {}
        return orjson.dumps(payload), {"Content-Type": "application/json"}

    def _api_message(self, response: Response) -> str:
        try:
            body = response.json()
        except ApiError:
            body = None
        message = None
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                message = error.get("message") or error.get("code")
            elif isinstance(error, str):
                message = error
            message = message or body.get("message") or body.get("detail")
        text = str(message)[:300] if message else "no error message"
        return self.credentials.redact(text)

    def _raise_for_status(self, response: Response, method: str) -> None:
        if response.ok:
            return
        where = f"{method} {display_url(response.url)}"
        message = self._api_message(response)
        status = response.status
        if status == 400:
            raise BadRequestError(f"{where} was rejected (HTTP 400): {message}", status=status)
        if status in (401, 403):
            raise AuthenticationError(
                f"{where} was refused (HTTP {status}): {message}; check the credentials "
                f"({', '.join(self.credentials) or 'none set'}) and the catalog's auth section",
                status=status,
            )
        if status == 404:
            raise NotFoundError(f"{where} was not found (HTTP 404): {message}", status=status)
        raise ApiError(f"{where} failed (HTTP {status}): {message}", status=status)


class _BatchRefs:
    """How a batch answer names its items: by index, by the trace token sent, or by record id."""

    def __init__(self, ids: list[str | None], traces: list[str] | None):
        self.traces = traces
        self._by_text: dict[str, list[int]] = {}
        for names in (ids, traces or []):
            for index, text in enumerate(names):
                if text is not None and index not in self._by_text.setdefault(str(text), []):
                    self._by_text[str(text)].append(index)
        self._count = len(ids)

    def indexes(self, ref: Any) -> list[int]:
        """The input indexes a reference (or a list of them) points to."""
        if isinstance(ref, list):
            return [i for r in ref for i in self.indexes(r)]
        if isinstance(ref, int) and not isinstance(ref, bool):
            return [ref] if 0 <= ref < self._count else []
        return list(self._by_text.get(str(ref), [])) if ref is not None else []


@dataclass(frozen=True)
class _PageCall:
    """One page request of a listing: its URL, query, and JSON body when the paging goes there."""

    url: str
    query: dict
    body: bytes | None = None
    headers: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return _with_query(self.url, self.query) + "\n" + (self.body or b"").decode()


class _PagesAhead:
    """Page requests sent before their turn, at most `width` at once, each with the rate budget,
    retries and deadline of any request; answers are taken in order by `take`. Requests no longer
    expected (a page came back shorter than predicted) are dropped."""

    def __init__(self, fetch: Callable[[_PageCall, dict | None], Response], width: int):
        self._fetch = fetch
        self._width = max(1, width)
        self._running: dict[str, Future[Response]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def take(self, call: _PageCall, position: dict | None, known: list[_PageCall]) -> Response:
        """The answer to `call`, the listing's next request; `known`: the requests that follow
        it from `position` on (itself first), started now if not yet running."""
        wanted = {c.key: c for c in known}
        for key in [k for k in self._running if k not in wanted]:
            self._running.pop(key).cancel()
        if wanted and self._pool is None:
            self._pool = ThreadPoolExecutor(self._width, thread_name_prefix="saasbridge-page")
        for key, c in wanted.items():
            if key not in self._running and self._pool is not None:
                self._running[key] = self._pool.submit(self._fetch, c, None)
        future = self._running.pop(call.key, None)
        if future is None:
            return self._fetch(call, position)
        try:
            return future.result()
        except DeadlineExceeded as exc:  # sent ahead, it did not know where the listing would stand
            raise DeadlineExceeded(str(exc), resume=position) from None

    def close(self) -> None:
        """Cancel what has not started; wait for what has (its answer is dropped)."""
        for future in self._running.values():
            future.cancel()
        self._running.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class _Slot:
    """Holds one of the API's concurrency slots for the duration of a request."""

    def __init__(
        self,
        slots: threading.BoundedSemaphore,
        deadline: Deadline | None,
        timer: RequestTimer,
        resume: dict | None,
    ):
        self._slots = slots
        self._deadline = deadline
        self._timer = timer
        self._resume = resume

    def __enter__(self) -> None:
        if self._deadline is None:
            self._slots.acquire()
            return
        patience = self._deadline.remaining() - self._timer.estimate() - self._deadline.margin
        if patience < 0 or not self._slots.acquire(timeout=patience):
            raise DeadlineExceeded(
                "no free connection slot before the deadline; continue from the resume state",
                resume=self._resume,
            )

    def __exit__(self, *exc: object) -> None:
        self._slots.release()


def probe_entity(catalog: Catalog) -> Entity:
    """The entity a probe reads: the first one that needs no path value."""
    return next((e for e in catalog.entities if not e.path_columns), catalog.entities[0])


def probe_request(catalog: Catalog, entity: Entity) -> tuple[str, dict[str, str]]:
    """(path, query parameters) of a one-record first page of `entity`: its static parameters
    and the first page's paging parameters at page size 1."""
    first = make_paginator(catalog.pagination_for(entity), 1).next_request()
    return entity.path, {**catalog.params_for(entity), **first.params}


def _with_paging(body: Any, paging: Mapping[str, str], pagination: Any) -> Any:
    """A copy of a JSON body with the page's paging parameters at their (dotted) paths; the page
    size as a number."""
    out = copy.deepcopy(body) if isinstance(body, dict) else {}
    for key, value in paging.items():
        set_path(out, key, int(value) if key == pagination.limit_param else value)
    return out


def _with_query(url: str, params: Mapping[str, QueryValue]) -> str:
    """`url` with `params` set (replacing its own of the same name); a list value repeats the key."""
    if not params:
        return url
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    for k, v in params.items():
        pairs.extend((k, str(x)) for x in v) if isinstance(v, list | tuple) else pairs.append((k, str(v)))
    return urlunsplit(parts._replace(query=urlencode(pairs)))
