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
    for w in plan_splits(runtime.catalog, q, max_splits=4):
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
