"""Pagination styles: one small class each, all behind `Paginator`.

A paginator says what the next request is, reads each answer to move on, and exports its state
as a small JSON-serialisable dict so that a listing can resume exactly where it stopped.
"""

from __future__ import annotations

import copy
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from saasbridge.catalog.model import Pagination
from saasbridge.client.http import Response, display_url
from saasbridge.client.retry import body_path
from saasbridge.errors import ApiError, QueryError

# Turns a next-page reference (absolute or relative) into the absolute URL to fetch; it refuses
# (ApiError) a URL on another origin. Supplied by the client, which owns that policy.
UrlResolver = Callable[[str, str], str]


@dataclass
class PageRequest:
    url: str | None = None  # absolute URL to fetch instead of the entity's list path
    params: dict[str, str] = field(default_factory=dict)  # paging parameters to add


_CONTENT_RANGE_TOTAL = re.compile(r"/\s*(\d+)\s*$")
_TRUE = frozenset({"true", "1", "yes"})


def header_total(value: str | None) -> int | None:
    """The total row count in a header: a number (`X-Total-Count: 120`) or the part after `/` of
    a Content-Range (`items 0-49/120`); None when absent or unknown (`*/*`)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    found = _CONTENT_RANGE_TOTAL.search(text)
    return int(found.group(1)) if found else None


def extract_records(body: Any, records_path: str, url: str) -> list[dict]:
    """The records of one page: the value at `records_path` ("" = the body itself is the array)."""
    records = body if records_path == "" else body_path(body, records_path)
    if records is None:
        if records_path and isinstance(body, dict) and records_path.split(".")[0] not in body:
            raise ApiError(
                f"{display_url(url)}: no {records_path!r} in the response; set records_path for this "
                "entity in the catalog"
            )
        return []
    if not isinstance(records, list):
        raise ApiError(
            f"{display_url(url)}: {records_path or 'the body'!r} is a {type(records).__name__}, not a list "
            "of records; set records_path for this entity in the catalog"
        )
    return records


class Paginator(ABC):
    style: ClassVar[str]

    def __init__(self, config: Pagination, page_size: int, *, resolve_url: UrlResolver | None = None):
        self.config = config
        self.page_size = max(1, min(int(page_size), config.max_page_size))
        self.done = False
        self._resolve_url = resolve_url or (lambda _current, ref: ref)

    def resize(self, page_size: int) -> bool:
        """Ask for `page_size` records from the next page on; False (nothing changed) when the
        position cannot be kept at that size."""
        self.page_size = max(1, min(int(page_size), self.config.max_page_size))
        return True

    def predicted(self, n: int) -> list[PageRequest]:
        """The next `n` requests (fewer at the end), known before the answers they follow: only
        where pages are addressed by number or offset and the total is known; [] elsewhere."""
        return []

    def size_params(self) -> dict[str, str]:
        return {self.config.limit_param: str(self.page_size)} if self.config.limit_param else {}

    def short_page(self, records: list[dict]) -> bool:
        """Whether `stop_on_short_page` ends the listing at this page (the API's own page size
        counts when it takes no page-size parameter)."""
        if not self.config.stop_on_short_page:
            return False
        size = self.page_size if self.config.limit_param else self.config.default_page_size
        return len(records) < size

    @abstractmethod
    def next_request(self) -> PageRequest:
        """The request for the next page."""

    @abstractmethod
    def advance(self, response: Response, body: Any, records: list[dict]) -> None:
        """Read one answer: move to the next page, or set `done`."""

    def state(self) -> dict[str, Any]:
        """The state that fetches the next page, as a JSON-serialisable dict."""
        return {"style": self.style, **self._state()}

    def restore(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("style") != self.style:
            found = state.get("style") if isinstance(state, dict) else type(state).__name__
            raise QueryError(
                f"resume state is for pagination style {found!r} but this entity pages with "
                f"{self.style!r}; restart the listing without a resume state"
            )
        try:
            self._restore(state)
        except (KeyError, TypeError, ValueError):
            raise QueryError("resume state is damaged; restart the listing without a resume state") from None

    @abstractmethod
    def _state(self) -> dict[str, Any]: ...

    @abstractmethod
    def _restore(self, state: dict[str, Any]) -> None: ...


class SinglePagePaginator(Paginator):
    """The endpoint returns everything in one answer."""

    style = "single"

    def next_request(self) -> PageRequest:
        return PageRequest(params=self.size_params())

    def advance(self, response: Response, body: Any, records: list[dict]) -> None:
        self.done = True

    def _state(self) -> dict[str, Any]:
        return {}

    def _restore(self, state: dict[str, Any]) -> None:
        pass


class CursorPaginator(Paginator):
    """An opaque cursor in the body, sent back as a parameter; null/absent/"" ends the listing.

    An empty page with a cursor does not end it (some APIs return those while still working).
    """

    style = "cursor"

    def __init__(self, config: Pagination, page_size: int, **kwargs: Any):
        super().__init__(config, page_size, **kwargs)
        self.cursor: str | None = None

    def next_request(self) -> PageRequest:
        params = self.size_params()
        if self.cursor is not None:
            params[self.config.cursor_param] = self.cursor
        return PageRequest(params=params)

    def advance(self, response: Response, body: Any, records: list[dict]) -> None:
        found = body_path(body, self.config.cursor_path)
        if found in (None, "", False) or self.short_page(records):
            self.done = True
            return
        found = str(found)
        if found == self.cursor:
            raise ApiError(
                f"{display_url(response.url)} returned the same cursor twice; the listing would never end"
            )
        self.cursor = found

    def _state(self) -> dict[str, Any]:
        return {"cursor": self.cursor}

    def _restore(self, state: dict[str, Any]) -> None:
        cursor = state["cursor"]
        self.cursor = None if cursor is None else str(cursor)


class LastIdPaginator(CursorPaginator):
    """The last record's id is the next cursor (`starting_after` + `has_more`, `since_id`): a
    has-more flag that is false, an empty page or (when asked) a short page ends the listing."""

    style = "last_id"

    def advance(self, response: Response, body: Any, records: list[dict]) -> None:
        has_more = body_path(body, self.config.has_more_path) if self.config.has_more_path else None
        if not records or has_more is False or self.short_page(records):
            self.done = True
            return
        last = body_path(records[-1], self.config.id_path)
        if last is None or last == "":
            raise ApiError(
                f"{display_url(response.url)}: the last record has no {self.config.id_path!r} to page on; set "
                "pagination.id_path in the catalog"
            )
        if str(last) == self.cursor:
            raise ApiError(f"{display_url(response.url)} returned the same last id twice; the listing would never end")
        self.cursor = str(last)


class _UrlPaginator(Paginator):
    """Shared by the styles where the API hands out the next page's URL."""

    def __init__(self, config: Pagination, page_size: int, **kwargs: Any):
        super().__init__(config, page_size, **kwargs)
        self.next_url: str | None = None

    def next_request(self) -> PageRequest:
        if self.next_url is None:
            return PageRequest(params=self.size_params())
        return PageRequest(url=self.next_url)

    def resize(self, page_size: int) -> bool:
        return self.next_url is None and super().resize(page_size)  # the next URL holds its size

    def _follow(self, response: Response, ref: Any, records: list[dict]) -> None:
        if ref in (None, "", False) or self.short_page(records):
            self.done = True
            return
        url = self._resolve_url(response.url, str(ref))
        if url == self.next_url:
            raise ApiError(
                f"{display_url(response.url)} pointed to itself as the next page; the listing would never end"
            )
        self.next_url = url

    def _state(self) -> dict[str, Any]:
        return {"next_url": self.next_url}

    def _restore(self, state: dict[str, Any]) -> None:
        url = state["next_url"]
        self.next_url = None if url is None else str(url)


class NextUrlPaginator(_UrlPaginator):
    """The body carries the next page's URL (absolute or relative); null/absent ends the listing."""

    style = "next_url"

    def advance(self, response: Response, body: Any, records: list[dict]) -> None:
        self._follow(response, body_path(body, self.config.next_url_path), records)


_LINK_PART = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL = re.compile(r"""rel\s*=\s*"?([^";]*)"?""", re.IGNORECASE)


def link_header_next(value: str | None) -> str | None:
    """The URL with rel="next" in an RFC 5988 Link header."""
    if not value:
        return None
    for match in _LINK_PART.finditer(value):
        rel = _REL.search(match.group(2) or "")
        if rel and "next" in rel.group(1).lower().split():
            return match.group(1).strip()
    return None


class LinkHeaderPaginator(_UrlPaginator):
    """RFC 5988 `Link: <…>; rel="next"`; no next link ends the listing."""

    style = "link_header"

    def advance(self, response: Response, body: Any, records: list[dict]) -> None:
        self._follow(response, link_header_next(response.headers.get("Link")), records)


class _CountingPaginator(Paginator):
    """Shared by offset and page-number styles: stop on has-more false (body or header), on
    reaching the total (body or header, remembered from the first page that gives it), on a
    short page when asked to, or on an empty page."""

    def __init__(self, config: Pagination, page_size: int, **kwargs: Any):
        super().__init__(config, page_size, **kwargs)
        self.seen = 0
        self.total: int | None = None

    def _finished(self, response: Response, body: Any, records: list[dict]) -> bool:
        c = self.config
        total = body_path(body, c.total_path) if c.total_path else None
        if isinstance(total, int | float) and not isinstance(total, bool):
            self.total = int(total)
        if c.total_header and (found := header_total(response.headers.get(c.total_header))) is not None:
            self.total = found
        has_more = body_path(body, c.has_more_path) if c.has_more_path else None
        if c.has_more_header and (flag := response.headers.get(c.has_more_header)) is not None:
            has_more = flag.strip().lower() in _TRUE
        if has_more is not None and not has_more:
            return True
        if self.total is not None and self.seen >= self.total:
            return True
        if self.short_page(records):
            return True
        signals = (c.total_path, c.has_more_path, c.total_header, c.has_more_header)
        no_other_stop = not any(signals)
        return not records and (c.stop_on_empty or no_other_stop or self._empty_cannot_advance)

    _empty_cannot_advance = False

    def predicted(self, n: int) -> list[PageRequest]:
        if self.total is None or self.done:
            return []
        ahead = copy.copy(self)
        out: list[PageRequest] = []
        while len(out) < n and ahead.seen < ahead.total:  # type: ignore[operator]
            out.append(ahead.next_request())
            ahead._skip_full_page()
        return out

    def _skip_full_page(self) -> None:
        """Move on as if the next answer were a full page."""
        self.seen += self.page_size if self.config.limit_param else self.config.default_page_size

    def _state(self) -> dict[str, Any]:
        return {"seen": self.seen, "total": self.total}

    def _restore(self, state: dict[str, Any]) -> None:
        self.seen = int(state["seen"])
        self.total = None if state.get("total") is None else int(state["total"])


class OffsetPaginator(_CountingPaginator):
    """`offset` + `limit` parameters; the offset moves by the number of records received."""

    style = "offset"
    _empty_cannot_advance = True  # an empty page leaves the offset where it is: asking again loops

    def next_request(self) -> PageRequest:
        return PageRequest(params={self.config.offset_param: str(self.seen), **self.size_params()})

    def advance(self, response: Response, body: Any, records: list[dict]) -> None:
        self.seen += len(records)
        self.done = self._finished(response, body, records)


class PageNumberPaginator(_CountingPaginator):
    """`page` (from `start_page`) + page-size parameters."""

    style = "page_number"

    def __init__(self, config: Pagination, page_size: int, **kwargs: Any):
        super().__init__(config, page_size, **kwargs)
        self.page = config.start_page

    def next_request(self) -> PageRequest:
        return PageRequest(params={self.config.page_param: str(self.page), **self.size_params()})

    def advance(self, response: Response, body: Any, records: list[dict]) -> None:
        self.seen += len(records)
        self.page += 1
        self.done = self._finished(response, body, records)

    def _skip_full_page(self) -> None:
        super()._skip_full_page()
        self.page += 1

    def resize(self, page_size: int) -> bool:
        """Only where the rows already read end on a page of the new size."""
        size = max(1, min(int(page_size), self.config.max_page_size))
        before = (self.page - self.config.start_page) * self.page_size
        if before % size:
            return False
        self.page, self.page_size = self.config.start_page + before // size, size
        return True

    def _state(self) -> dict[str, Any]:
        # The page size is part of the position: page 3 of 50 is not page 3 of 100.
        return {**super()._state(), "page": self.page, "page_size": self.page_size}

    def _restore(self, state: dict[str, Any]) -> None:
        super()._restore(state)
        self.page = int(state["page"])
        self.page_size = int(state["page_size"])


PAGINATORS: dict[str, type[Paginator]] = {
    cls.style: cls
    for cls in (
        SinglePagePaginator,
        CursorPaginator,
        LastIdPaginator,
        NextUrlPaginator,
        LinkHeaderPaginator,
        OffsetPaginator,
        PageNumberPaginator,
    )
}


def make_paginator(
    config: Pagination, page_size: int, *, resolve_url: UrlResolver | None = None
) -> Paginator:
    try:
        cls = PAGINATORS[config.style]
    except KeyError:
        raise QueryError(
            f"unknown pagination style {config.style!r}; use one of {', '.join(PAGINATORS)}"
        ) from None
    return cls(config, page_size, resolve_url=resolve_url)
