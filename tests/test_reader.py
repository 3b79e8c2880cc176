"""The read pipeline against the real reference API; ground truth from its own database."""

from __future__ import annotations

import pytest

from saasbridge.arrow import RecordConverter
from saasbridge.errors import DeadlineExceeded
from saasbridge.query.ir import Compare, InList, OrderBy, Query
from saasbridge.query.reader import read
from saasbridge.query.residual import apply
from saasbridge.query.splits import plan_splits
from saasbridge.runtime import Runtime


@pytest.fixture(scope="module")
def runtime(reference_api):
    return Runtime.from_env({"SAASBRIDGE_API_URL": reference_api.url, "SAASBRIDGE_API_KEY": "demo-acme-key"})


@pytest.fixture(scope="module")
def truth(reference_api):
    from demo_saas.store import dump_records

    return lambda entity: dump_records(reference_api.db_path, "acme", entity)


def _expected(runtime, truth, query: Query) -> list[dict]:
    entity = runtime.catalog.entity(query.entity)
    batch = apply(query.where, RecordConverter(entity).convert(truth(query.entity)))
    cols = list(query.columns) if query.columns else entity.column_names
    return batch.select(cols).to_pylist()


def _rows(reader) -> list[dict]:
    return [row for page in reader for row in page.batch.to_pylist()]


def _key(rows):
    return sorted(rows, key=lambda r: r["id"])


@pytest.mark.parametrize(
    "query",
    [
        Query("accounts", where=Compare("country", "eq", "DE")),
        Query("deals", columns=("id", "amount"), where=Compare("stage", "eq", "closed_won")),
        Query("events", columns=("id", "type"), where=Compare("duration_ms", "gt", 1000)),
        Query("contacts", columns=("id", "title")),
    ],
)
def test_read_returns_exactly_the_matching_rows(runtime, truth, query):
    client = runtime.client()
    got = _rows(read(client, runtime.catalog, query, page_size=137))
    assert _key(got) == _key(_expected(runtime, truth, query))


def test_ids_mode_across_batches_and_resume(runtime, truth):
    ids = tuple(r["id"] for r in truth("contacts")[::3])[:250] + ("con_999999",)
    q = Query("contacts", columns=("id", "email"), where=InList("id", ids))
    r = read(runtime.client(), runtime.catalog, q)
    assert r.plan.mode == "ids"
    pages = list(r)
    got = [row for p in pages for row in p.batch.to_pylist()]
    assert _key(got) == _key(_expected(runtime, truth, q))
    # resuming from any page gives exactly the rest
    for i, p in enumerate(pages[:-1]):
        rest = _rows(read(runtime.client(), runtime.catalog, q, resume=p.resume))
        assert rest == [row for later in pages[i + 1 :] for row in later.batch.to_pylist()]


def test_list_resume_is_exact(runtime):
    q = Query("deals", columns=("id",))
    pages = list(read(runtime.client(), runtime.catalog, q, page_size=100))
    assert len(pages) > 2 and pages[-1].resume is None
    rest = _rows(read(runtime.client(), runtime.catalog, q, page_size=100, resume=pages[1].resume))
    assert rest == [row for p in pages[2:] for row in p.batch.to_pylist()]


def test_limit_stops_early(runtime, truth):
    client = runtime.client()
    before = client.stats.requests
    r = read(client, runtime.catalog, Query("events", columns=("id",), where=Compare("type", "eq", "call"), limit=5))
    got = _rows(r)
    assert len(got) == 5 and client.stats.requests - before == r.plan.expected_requests == 1
    assert {row["id"] for row in got} <= {row["id"] for row in truth("events") if row["type"] == "call"}


def test_ordered_limit_is_the_top_rows(runtime, truth):
    q = Query("accounts", columns=("id", "updated_at"), order_by=(OrderBy("updated_at", descending=True),), limit=4)
    r = read(runtime.client(), runtime.catalog, q)
    assert r.plan.ordered
    got = _rows(r)
    exp = sorted(_expected(runtime, truth, Query("accounts", columns=("id", "updated_at"))),
                 key=lambda x: (x["updated_at"], x["id"]), reverse=True)
    assert [g["updated_at"] for g in got] == [e["updated_at"] for e in exp[:4]]


def test_splits_partition_the_entity(runtime, truth):
    q = Query("deals", columns=("id",))
    seen: list[str] = []
    windows = plan_splits(runtime.catalog, q, max_splits=4, min_pages_per_split=0)
    assert len(windows) > 1
    for w in windows:
        seen += [row["id"] for row in _rows(read(runtime.client(), runtime.catalog, q, extra=w.expr()))]
    assert sorted(seen) == sorted(r["id"] for r in truth("deals"))


def test_empty_plan_makes_no_request(runtime):
    client = runtime.client()
    before = client.stats.requests
    q = Query("accounts", where=InList("id", ()))
    pages = list(read(client, runtime.catalog, q))
    assert [p.batch.num_rows for p in pages] == [0] and client.stats.requests == before


def test_deadline_says_where_to_resume(runtime):
    from saasbridge.client import Deadline

    q = Query("contacts", columns=("id",))
    with pytest.raises(DeadlineExceeded) as err:
        list(read(runtime.client(), runtime.catalog, q, deadline=Deadline(0.0)))
    assert err.value.resume is not None and err.value.resume["mode"] == "list"
    rows = _rows(read(runtime.client(), runtime.catalog, q, resume=err.value.resume))
    assert len(rows) == len({r["id"] for r in rows}) > 0


# ---- read-ahead (the next page is fetched while the current one is processed) ----------------


def _read_ahead_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "saasbridge-read-ahead"]


def test_read_ahead_makes_no_extra_request_and_keeps_resume_exact(runtime, truth):
    q = Query("contacts", columns=("id", "title"))
    counts = {}
    results = {}
    for prefetch in (True, False):
        client = runtime.client()
        before = client.stats.requests
        pages = list(read(client, runtime.catalog, q, page_size=137, prefetch=prefetch))
        counts[prefetch] = client.stats.requests - before
        results[prefetch] = pages
    rows = [row for p in results[True] for row in p.batch.to_pylist()]
    assert _key(rows) == _key(_expected(runtime, truth, q))
    assert counts[True] == counts[False] == len(results[True]) > 3  # one request per page, none ahead
    for i, p in enumerate(results[True][:-1]):  # each page's resume continues right after it
        rest = _rows(read(runtime.client(), runtime.catalog, q, page_size=137, resume=p.resume))
        assert rest == [row for later in results[True][i + 1:] for row in later.batch.to_pylist()]


def test_read_ahead_never_fetches_past_the_limit(runtime):
    for limit in (137, 138, 300, 411):
        client = runtime.client()
        before = client.stats.requests
        got = _rows(read(client, runtime.catalog, Query("contacts", columns=("id",), limit=limit), page_size=137))
        assert len(got) == limit
        assert client.stats.requests - before == -(-limit // 137)  # the pages the limit needs, no more


def test_closing_early_stops_the_read_ahead(runtime):
    client = runtime.client()
    before = client.stats.requests
    reader = read(client, runtime.catalog, Query("contacts", columns=("id",)), page_size=100)
    taken = [next(reader), next(reader)]  # the second page starts fetching the third
    reader.close()
    assert not _read_ahead_threads()
    assert client.stats.requests - before <= len(taken) + 1  # at most the one page in flight
    assert list(reader) == []
    # a caller that takes one page and walks away never triggers a fetch ahead
    before = client.stats.requests
    with read(client, runtime.catalog, Query("contacts", columns=("id",)), page_size=100) as one:
        next(one)
    assert client.stats.requests - before == 1 and not _read_ahead_threads()


def test_an_error_while_reading_ahead_surfaces_at_its_page(runtime):
    from saasbridge.errors import ApiUnavailableError

    class FailingThirdPage:
        """The real client, except that the third page of any listing fails."""

        def __init__(self, client):
            self.inner = client

        def list_pages(self, *args, **kwargs):
            for n, page in enumerate(self.inner.list_pages(*args, **kwargs)):
                if n == 2:
                    raise ApiUnavailableError("page 3 failed")
                yield page

    reader = read(FailingThirdPage(runtime.client()), runtime.catalog, Query("contacts", columns=("id",)),
                  page_size=100)
    got = [next(reader), next(reader)]
    assert all(p.batch.num_rows == 100 and p.resume is not None for p in got)
    with pytest.raises(ApiUnavailableError, match="page 3 failed"):
        next(reader)
    assert not _read_ahead_threads()


def test_deadline_during_read_ahead_resumes_exactly(runtime, truth):
    from saasbridge.client import Deadline

    client = runtime.client()
    start = client.stats.requests
    # a clock that advances one "second" per request: the fifth request cannot start in time
    deadline = Deadline(3.9, margin=0.0, clock=lambda: float(client.stats.requests - start))
    q = Query("contacts", columns=("id",))
    pages = []
    with pytest.raises(DeadlineExceeded) as err:
        for page in read(client, runtime.catalog, q, page_size=100, deadline=deadline):
            pages.append(page)
    assert len(pages) == client.stats.requests - start == 4
    assert err.value.resume == {**pages[-1].resume, "rows": 400}
    rest = _rows(read(runtime.client(), runtime.catalog, q, page_size=100, resume=err.value.resume))
    rows = [row for p in pages for row in p.batch.to_pylist()] + rest
    assert _key(rows) == _key(_expected(runtime, truth, q)) and len(rows) == len({r["id"] for r in rows})


def test_no_columns_still_counts_the_rows(runtime, truth):
    """count(*) asks for no column: every page still carries its number of rows."""
    for where in (None, Compare("stage", "eq", "closed_won")):
        pages = list(read(runtime.client(), runtime.catalog, Query("deals", (), where), page_size=150))
        assert all(p.batch.num_columns == 0 for p in pages)
        expected = [r for r in truth("deals") if where is None or r["stage"] == "closed_won"]
        assert sum(p.batch.num_rows for p in pages) == len(expected) > 0


def test_a_read_finalised_inside_its_own_fetch_is_not_closed_there():
    """The garbage collector may finalise an abandoned read in the read-ahead thread while that
    thread is inside the listing; closing the listing there raised 'generator already executing'."""
    from saasbridge.query.reader import _PageFetcher

    def pages():
        fetcher.close()  # what a finaliser run inside this fetch does
        yield "page"

    fetcher = _PageFetcher(pages())
    fetcher.start()
    assert fetcher.take() == "page"
    fetcher.close()


# ---------------------------------------------------------------- id lists in flight (issue 23)


@pytest.mark.parametrize("in_flight", [1, 4])
def test_id_batches_in_flight_read_each_batch_once_in_order(in_flight):
    import dataclasses

    from saasbridge.client import SaasClient
    from saasbridge.local.httpstub import StubReply, StubRequest, StubServer, dataset, reply, stub_catalog

    rows = {r["id"]: r for r in dataset(60)}

    def api(request: StubRequest) -> StubReply:
        answer = reply({"data": [rows[i] for i in request.query["ids"].split(",") if i in rows],
                        "next_cursor": None})
        answer.delay = 0.02
        return answer

    with StubServer(api) as server:
        catalog = stub_catalog(server.url, ids_param="ids", get_path=None)
        entity = dataclasses.replace(catalog.entity("things"), ids_max=5)
        catalog = dataclasses.replace(catalog, entities=(entity,))
        wanted = tuple(f"r{i:05d}" for i in range(0, 80, 2))  # 40 ids, 10 of them unknown to the API
        reader = read(SaasClient(catalog), catalog, Query("things", ("id", "n"), InList("id", wanted), None),
                      in_flight=in_flight)
        pages = [(page.batch.to_pylist(), page.resume) for page in reader]
        want = [rows[i] for i in wanted if i in rows]
        assert [r for batch, _ in pages for r in batch] == want  # in the order of the batches
        assert len(server.requests) == 8  # 40 ids, 5 a request: not one more
        assert (server.max_in_flight > 1) == (in_flight > 1) and server.max_in_flight <= in_flight
        head = [r for batch, _ in pages[:3] for r in batch]
        rest = read(SaasClient(catalog), catalog, Query("things", ("id", "n"), InList("id", wanted), None),
                    resume=pages[2][1], in_flight=in_flight)
        assert head + [r for page in rest for r in page.batch.to_pylist()] == want
