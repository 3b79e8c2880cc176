"""The draft's `pagination` for one list operation: a request parameter paired with the response
field that feeds it (`after` ↔ `paging.next.after`, `offset` ↔ `next_page.offset`), the last
record's id (`starting_after` + `has_more`), a next-page URL, offsets or page numbers, and a
`Link` header only where the response declares one. The page size comes from the parameter's
maximum or its description."""

from __future__ import annotations

import re
from typing import Any

from saasbridge.catalog.openapi.document import Document, stated_maximum
from saasbridge.catalog.openapi.notes import Noted

LIMIT_PARAMS = ("limit", "page_size", "pageSize", "per_page", "perPage", "size", "count", "max_results",
                "maxResults", "top", "$top", "page[size]")
CURSOR_PARAMS = ("cursor", "page_token", "pageToken", "after", "next_token", "nextToken", "continuation",
                 "continuationToken", "page[after]", "marker", "offset", "page", "startCursor", "start_cursor")
# a cursor key that needs no pairing by name: whatever the parameter is called, these feed it
CURSOR_KEYS = ("next_cursor", "nextcursor", "next_page_token", "nextpagetoken", "next_token", "nexttoken",
               "after_cursor", "aftercursor", "continuation", "continuationtoken", "next_page", "nextpage")
LAST_ID_PARAMS = ("starting_after", "since_id", "after_id", "from_id")
NEXT_URL_KEYS = ("next", "next_url", "nexturl", "next_page_url", "nextpageurl", "next_link", "nextlink",
                 "uri", "href")
PAGE_PARAMS = ("page", "page_number", "pageNumber")
TOTAL_KEYS = ("total", "total_count", "totalcount", "count", "total_results", "totalresults")
HAS_MORE_KEYS = ("has_more", "hasmore", "more", "has_next", "hasnext")
COMMON_CAP = 100  # the page-size cap of most SaaS APIs (HubSpot, Stripe, GitHub, Asana, Zendesk)
_DEFAULT = re.compile(r"default(?:s to| is| of|:)?\s+(\d+)", re.I)


def draft_pagination(
    document: Document, params: dict[str, dict[str, Any]], page: dict[str, Any] | None, records_key: str,
    record: dict[str, Any], headers: list[str],
) -> Noted:
    """The pagination of a list operation with these query parameters (name → parameter), answer
    schema, records key, record schema and declared response headers."""
    leaves = [(path, s) for path, s in document.leaves(page) if path.split(".")[0] != records_key] if page else []
    limit = next((p for p in LIMIT_PARAMS if p in params), None)
    out = (
        _cursor(document, params, leaves)
        or _last_id(params, leaves, record)
        or _next_url(leaves)
        or _link_header(headers)  # declared: the API's own next link beats counting pages
        or _offset_or_page(document, params, leaves, headers)
        or _single(limit)
    )
    out["limit_param"] = limit
    if limit:
        _page_size(out, params[limit], document)
    return out


def total_path(document: Document, answer: dict[str, Any] | None) -> str | None:
    """The body path of the total row count in an answer (`total`, `meta.total_count`…)."""
    return _leaf(list(document.leaves(answer)), TOTAL_KEYS) if answer else None


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _cursor(document: Document, params: dict[str, dict[str, Any]], leaves: list[tuple[str, dict]]) -> Noted | None:
    """A cursor parameter and the response field that feeds it: same name (`after` ↔
    `paging.next.after`), or a next-cursor key (`page_token` ↔ `next_page_token`)."""
    candidates = [p for p in params if p in CURSOR_PARAMS or re.search(r"cursor|token", p, re.I)]
    for name in candidates:
        schema, _ = document.unwrap_nullable(params[name].get("schema", {}))
        if schema.get("type") in ("integer", "number"):
            continue  # a numeric offset or page, not an opaque cursor
        wanted = {_norm(name), f"next{_norm(name)}", f"{_norm(name)}cursor"}
        usable = [(path, s) for path, s in leaves
                  if not re.search(r"prev|before|previous", path, re.I) and s.get("format") not in ("uri", "url")]
        same = [path for path, _ in usable if _norm(path.rsplit(".", 1)[-1]) in wanted]
        keyed = [path for path, _ in usable if _norm(path.rsplit(".", 1)[-1]) in CURSOR_KEYS]
        found = sorted(same, key=lambda p: ("next" not in p.lower(), p.count("."))) or keyed
        if found:
            out = Noted(style="cursor", cursor_param=name, cursor_path=found[0])
            how = "the same name" if same else "a next-cursor key"
            out.note("cursor_path", f"guess: feeds ?{name} ({how}); null or absent ends the listing")
            return out
    return None


def _last_id(params: dict[str, dict[str, Any]], leaves: list[tuple[str, dict]], record: dict[str, Any]) -> Noted | None:
    """`starting_after=<last id>` with `has_more` (Stripe), `since_id` (GitHub, Zendesk)."""
    name = next((p for p in LAST_ID_PARAMS if p in params), None)
    if name is None or "id" not in record.get("properties", {}):
        return None
    more = _leaf(leaves, HAS_MORE_KEYS)
    out = Noted(style="last_id", cursor_param=name, id_path="id", **({"has_more_path": more} if more else {}))
    out.note("style", f"guess: ?{name} takes the last record's id" + (f"; {more} false ends the listing" if more
                                                                        else "; an empty page ends the listing"))
    return out


def _next_url(leaves: list[tuple[str, dict]]) -> Noted | None:
    found = [path for path, s in leaves if s.get("type") in (None, "string")
             and _norm(path.rsplit(".", 1)[-1]) in NEXT_URL_KEYS and ("next" in path.lower())]
    if not found:
        return None
    out = Noted(style="next_url", next_url_path=min(found, key=lambda p: p.count(".")))
    out.note("next_url_path", "guess: the next page's URL; null or absent ends the listing")
    return out


def _offset_or_page(
    document: Document, params: dict[str, dict[str, Any]], leaves: list[tuple[str, dict]], headers: list[str]
) -> Noted | None:
    numeric = {p for p, spec in params.items()
               if document.unwrap_nullable(spec.get("schema", {}))[0].get("type") in (None, "integer", "number")}
    if offset := next((p for p in ("offset", "skip", "start", "startAt") if p in numeric), None):
        out = Noted(style="offset", offset_param=offset)
    elif page := next((p for p in PAGE_PARAMS if p in params), None):
        out = Noted(style="page_number", page_param=page)
    else:
        return None
    if total := _leaf(leaves, TOTAL_KEYS):
        out["total_path"] = total
    if more := _leaf(leaves, HAS_MORE_KEYS):
        out["has_more_path"] = more
    lower = {h.lower(): h for h in headers}
    total_header = lower.get("content-range") or next((h for k, h in lower.items() if "total" in k), None)
    if "total_path" not in out and total_header:
        out["total_header"] = total_header
    if "has_more_path" not in out and (more := next((h for k, h in lower.items() if "more" in k), None)):
        out["has_more_header"] = more
    return out


def _link_header(headers: list[str]) -> Noted | None:
    return Noted(style="link_header") if any(h.lower() == "link" for h in headers) else None


def _single(limit: str | None) -> Noted:
    out = Noted(style="single")
    if limit:
        out.note("style", f"guess: the document declares a page size (?{limit}) but no way to the next page, "
                 "so one page is read: set the pagination by hand if the API pages")
    return out


def _leaf(leaves: list[tuple[str, dict]], keys: tuple[str, ...]) -> str | None:
    found = [path for path, _ in leaves if _norm(path.rsplit(".", 1)[-1]) in keys]
    return min(found, key=lambda p: p.count(".")) if found else None


def _page_size(out: Noted, param: dict[str, Any], document: Document) -> None:
    schema, _ = document.unwrap_nullable(param.get("schema", {}))
    default = schema.get("default")
    default = int(default) if isinstance(default, (int, float)) and not isinstance(default, bool) else None
    if default is None and (said := _DEFAULT.search(param.get("description") or "")):
        default = int(said.group(1))
    maximum = schema.get("maximum")
    cap = int(maximum) if isinstance(maximum, (int, float)) else stated_maximum(
        schema.get("description"), param.get("description"))
    if cap is None:
        cap = max(COMMON_CAP, default or 0)
        out.note("max_page_size", f"guess: the document states no maximum; {COMMON_CAP} is the common cap "
                 "(lower it if the API answers 400)")
    out["max_page_size"] = cap
    out["default_page_size"] = min(default if default is not None else cap, cap)
