"""Every pagination style against a real loopback server: all rows once, exact resume, stop rules."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saasbridge.catalog.model import Pagination
from saasbridge.client import SaasClient
from saasbridge.client.deadline import Deadline
from saasbridge.client.paginators import link_header_next
from saasbridge.errors import ApiError, DeadlineExceeded, QueryError
from saasbridge.local.httpstub import StubReply, StubRequest, StubServer, dataset, reply, stub_catalog


def paging_api(request: StubRequest) -> StubReply:
    """One endpoint per style, serving `dataset(n)` the way real APIs of that style do."""
    q = request.query
    style = request.path.rsplit("/", 1)[-1]
    n = int(q.get("n", "23"))
    rows = dataset(n)
    if style == "cursor":
        limit = int(q["limit"])
        start = int(q["cursor"].removeprefix("c")) if "cursor" in q else 0
        end = start + limit
        return reply({"data": rows[start:end], "paging": {"next": f"c{end}" if end < n else None}})
    if style in ("next_url", "link_header"):
        start, limit = int(q.get("start", "0")), int(q["limit"])
        end = start + limit
        nxt = f"/v1/{style}?n={n}&start={end}&limit={limit}" if end < n else None
        if style == "next_url":
            return reply({"items": rows[start:end], "links": {"next": nxt}})
        host = request.headers["host"]
        links = [f'<http://{host}/v1/{style}?n={n}&start=0&limit={limit}>; rel="first"']
        if nxt:
            links.append(f'<http://{host}{nxt}>; rel="next"')
        return reply(rows[start:end], Link=", ".join(links))
    if style.startswith("offset"):
        offset, limit = int(q["offset"]), int(q["limit"])
        page = rows[offset : offset + limit]
        if style == "offset_total":  # total only on the first page, as some APIs do
            return reply({"results": page, "meta": {"total": n} if offset == 0 else {}})
        if style == "offset_has_more":
            return reply({"results": page, "has_more": offset + limit < n})
        return reply({"results": page})
    if style.startswith("page"):
        page_no, per_page = int(q["page"]), int(q["per_page"])
        page = rows[(page_no - 1) * per_page : page_no * per_page]
        if style == "page_total":
            return reply({"data": page, "total": n})
        return reply(page)
    if style == "single":
        return reply(rows)
    return reply({"error": "no such style"}, status=404)


STYLES = {
    # name: (pagination, records_path, requests for n rows at page size s)
    "cursor": (
        Pagination(style="cursor", cursor_path="paging.next", max_page_size=50),
        "data",
        lambda n, s: max(1, math.ceil(n / s)),
    ),
    "next_url": (
        Pagination(style="next_url", next_url_path="links.next", max_page_size=50),
        "items",
        lambda n, s: max(1, math.ceil(n / s)),
    ),
    "link_header": (
        Pagination(style="link_header", max_page_size=50),
        "",
        lambda n, s: max(1, math.ceil(n / s)),
    ),
    "offset_total": (
        Pagination(style="offset", total_path="meta.total", stop_on_empty=False, max_page_size=50),
        "results",
        lambda n, s: max(1, math.ceil(n / s)),
    ),
    "offset_has_more": (
        Pagination(style="offset", has_more_path="has_more", stop_on_empty=False, max_page_size=50),
        "results",
        lambda n, s: max(1, math.ceil(n / s)),
    ),
    "offset_empty": (
        Pagination(style="offset", max_page_size=50),
        "results",
        lambda n, s: math.ceil(n / s) + 1,
    ),
    "page_number": (
        Pagination(style="page_number", limit_param="per_page", max_page_size=50),
        "",
        lambda n, s: math.ceil(n / s) + 1,
    ),
    "page_total": (
        Pagination(style="page_number", limit_param="per_page", total_path="total", stop_on_empty=False,
                   max_page_size=50),
        "data",
        lambda n, s: max(1, math.ceil(n / s)),
    ),
    "single": (Pagination(style="single", limit_param=None), "", lambda n, s: 1),
}


@pytest.fixture(scope="module")
def server():
    with StubServer(paging_api) as running:
        yield running


def client_for(server: StubServer, style: str) -> SaasClient:
    pagination, records_path, _ = STYLES[style]
    catalog = stub_catalog(server.url, pagination=pagination, records_path=records_path, path=f"/v1/{style}")
    return SaasClient(catalog)


def read(client: SaasClient, n: int, size: int, *, resume=None, pages: int | None = None):
    entity = client.catalog.entity("things")
    rows, last_resume, count = [], None, 0
    for page in client.list_pages(entity, {"n": str(n)}, page_size=size, resume=resume):
        rows.extend(page.records)
        last_resume = page.resume
        count += 1
        if pages is not None and count >= pages:
            break
    return rows, last_resume, count


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_row_once_with_the_fewest_requests(server, style):
    client = client_for(server, style)
    n, size = 23, 5
    before = len(server.requests)
    rows, resume, _ = read(client, n, size)
    assert rows == dataset(n)
    assert resume is None
    assert client.stats.requests == len(server.requests) - before == STYLES[style][2](n, size)
    assert client.stats.bytes > 0


@pytest.mark.parametrize("style", sorted(set(STYLES) - {"single"}))
def test_resume_from_exported_state_has_no_gap_and_no_duplicate(server, style):
    n, size = 23, 4
    first, resume, _ = read(client_for(server, style), n, size, pages=2)
    assert len(first) == 2 * size and resume is not None
    state = orjson.loads(orjson.dumps(resume))  # travels as JSON (AppFlow token, split property)
    rest, final, _ = read(client_for(server, style), n, size, resume=state)
    assert first + rest == dataset(n)
    assert final is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    style=st.sampled_from(sorted(STYLES)),
    n=st.integers(0, 40),
    size=st.integers(1, 12),
    stop_after=st.integers(1, 6),
)
def test_any_size_any_stop_point_reads_exactly_the_data(server, style, n, size, stop_after):
    client = client_for(server, style)
    head, resume, _ = read(client, n, size, pages=stop_after)
    tail = read(client, n, size, resume=resume)[0] if resume is not None else []
    assert head + tail == dataset(n)


def test_page_size_is_capped_at_the_maximum(server):
    client = client_for(server, "cursor")
    rows, _, count = read(client, 120, 1000)
    assert rows == dataset(120)
    assert count == math.ceil(120 / 50)
    assert {r.query["limit"] for r in server.requests[-count:]} == {"50"}


def test_resume_state_of_another_style_is_refused(server):
    _, resume, _ = read(client_for(server, "cursor"), 23, 5, pages=1)
    with pytest.raises(QueryError, match="pagination style 'cursor'"):
        read(client_for(server, "offset_total"), 23, 5, resume=resume)


def test_link_header_parsing():
    header = '<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next last"'
    assert link_header_next(header) == "https://a/x?page=3"
    assert link_header_next('<https://a/x?page=1>; rel="prev"') is None
    assert link_header_next(None) is None


@pytest.mark.parametrize("where", ["body", "link"])
def test_never_follows_a_next_page_url_to_another_origin(where):
    with StubServer(lambda r: reply({"data": [{"id": "stolen"}]})) as other:
        def api(request: StubRequest) -> StubReply:
            target = f"{other.url}/v1/things?page=2"
            if where == "body":
                return reply({"data": dataset(2), "next": target})
            return reply({"data": dataset(2)}, Link=f'<{target}>; rel="next"')

        style = "next_url" if where == "body" else "link_header"
        with StubServer(api) as server:
            client = SaasClient(stub_catalog(server.url, pagination=Pagination(style=style)))
            pages = client.list_pages(client.catalog.entity("things"), {}, page_size=10)
            with pytest.raises(ApiError, match="refusing to send credentials to http://127.0.0.1:") as caught:
                list(pages)
            assert other.url.rsplit(":", 1)[1] in str(caught.value)
        assert other.requests == []


def test_a_cursor_that_does_not_move_is_an_error_not_a_loop():
    with StubServer(lambda r: reply({"data": dataset(1), "next_cursor": "same"})) as server:
        client = SaasClient(stub_catalog(server.url))
        with pytest.raises(ApiError, match="same cursor twice"):
            list(client.list_pages(client.catalog.entity("things"), {}, page_size=10))
        assert len(server.requests) == 2


def test_an_empty_page_with_a_cursor_does_not_end_the_listing():
    answers = iter([
        {"data": [], "next_cursor": "a"},
        {"data": dataset(3), "next_cursor": None},
    ])
    with StubServer(lambda r: reply(next(answers))) as server:
        client = SaasClient(stub_catalog(server.url))
        rows, _, count = read(client, 3, 10)
    assert rows == dataset(3) and count == 2


def test_missing_records_path_names_the_fix():
    with StubServer(lambda r: reply({"items": dataset(2)})) as server:
        client = SaasClient(stub_catalog(server.url))
        with pytest.raises(ApiError, match="set records_path"):
            read(client, 2, 10)


def test_header_total_reads_counts_and_content_ranges():
    from saasbridge.client.paginators import header_total

    assert header_total("120") == 120
    assert header_total(" items 0-49/120 ") == 120
    assert header_total("0-24/25") == 25
    assert header_total("items */0") == 0
    for unknown in (None, "", "items 0-49/*", "lots"):
        assert header_total(unknown) is None


def _numbered(total_header: str | None = None) -> StubServer:
    def handle(request: StubRequest) -> StubReply:
        n, size, page = int(request.query["n"]), int(request.query["limit"]), int(request.query["page"])
        rows = dataset(n)[(page - 1) * size : page * size]
        return reply({"data": rows}, **({total_header: str(n)} if total_header else {}))

    return StubServer(handle)


@pytest.mark.parametrize("n", [0, 1, 9, 10, 11, 30])
@pytest.mark.parametrize("signal", ["total_header", "stop_on_short_page"])
def test_header_total_and_short_page_end_at_the_last_page(n, signal):
    """ceil(n / size) requests with a total (one for none); with short-page stops, one more only
    when the last page is full. Every row once."""
    config = {"total_header": {"total_header": "X-Total-Count"}, "stop_on_short_page": {"stop_on_short_page": True}}
    pagination = Pagination(style="page_number", max_page_size=10, **config[signal])
    with _numbered("X-Total-Count" if signal == "total_header" else None) as server:
        client = SaasClient(stub_catalog(server.url, pagination=pagination))
        entity = client.catalog.entities[0]
        rows = [r for p in client.list_pages(entity, {"n": str(n)}, page_size=10) for r in p.records]
    assert rows == dataset(n)
    expected = max(1, math.ceil(n / 10)) if signal == "total_header" else n // 10 + 1
    assert len(server.requests) == expected


# ---------------------------------------------------------------- pages in flight (issue 23)


def pages_of(client: SaasClient, n: int, size: int, *, resume=None, in_flight: int = 1) -> list[tuple]:
    """(records, resume) of every page of a listing."""
    entity = client.catalog.entity("things")
    return [(page.records, page.resume) for page in
            client.list_pages(entity, {"n": str(n)}, page_size=size, resume=resume, in_flight=in_flight)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    style=st.sampled_from(sorted(STYLES)),
    n=st.integers(0, 60),
    size=st.integers(1, 12),
    in_flight=st.integers(2, 6),
    stop_after=st.integers(1, 8),
)
def test_pages_in_flight_are_the_sequential_pages_with_the_same_requests(server, style, n, size, in_flight,
                                                                        stop_after):
    one_by_one = client_for(server, style)
    sequential = pages_of(one_by_one, n, size)
    client = client_for(server, style)
    assert pages_of(client, n, size, in_flight=in_flight) == sequential
    assert client.stats.requests == one_by_one.stats.requests  # not one request more
    head = sequential[:stop_after]
    if head[-1][1] is not None:  # resumed from a page's state, pages in flight again
        resumed = client_for(server, style)
        assert pages_of(resumed, n, size, resume=head[-1][1], in_flight=in_flight) == sequential[len(head):]


@pytest.mark.parametrize("style, overlap", [("page_total", True), ("offset_total", True), ("cursor", False),
                                            ("next_url", False), ("page_number", False)])
def test_requests_overlap_only_where_the_next_pages_are_known(style, overlap):
    def slow(request: StubRequest) -> StubReply:
        answer = paging_api(request)
        answer.delay = 0.03
        return answer

    with StubServer(slow) as api:
        client = client_for(api, style)
        rows = [r for records, _ in pages_of(client, 60, 5, in_flight=4) for r in records]
        assert rows == dataset(60)
        assert len(api.requests) == STYLES[style][2](60, 5)
        assert (api.max_in_flight > 1) == overlap and api.max_in_flight <= 4


def test_a_failing_page_in_flight_is_retried_in_its_place():
    failed: set[str] = set()

    def flaky(request: StubRequest) -> StubReply:
        if request.query.get("page") in ("2", "5") and request.query["page"] not in failed:
            failed.add(request.query["page"])
            return reply({"error": "busy"}, status=503)
        return paging_api(request)

    with StubServer(flaky) as api:
        client = client_for(api, "page_total")
        rows = [r for records, _ in pages_of(client, 40, 5, in_flight=3) for r in records]
        assert rows == dataset(40)
        assert len(api.requests) == 8 + 2 and client.stats.retries == 2


def test_a_deadline_in_flight_resumes_where_the_pages_taken_end():
    def slow(request: StubRequest) -> StubReply:
        answer = paging_api(request)
        answer.delay = 0.15
        return answer

    with StubServer(slow) as api:
        client = client_for(api, "page_total")
        entity = client.catalog.entity("things")
        head: list[dict] = []
        with pytest.raises(DeadlineExceeded) as stopped:
            for page in client.list_pages(entity, {"n": "120"}, page_size=5, in_flight=3,
                                          deadline=Deadline(0.9, margin=0.05)):
                head += page.records
        assert head and stopped.value.resume is not None
        tail = [r for records, _ in pages_of(client_for(api, "page_total"), 120, 5, resume=stopped.value.resume,
                                             in_flight=3) for r in records]
        assert head + tail == dataset(120)
