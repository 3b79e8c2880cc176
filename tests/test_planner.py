"""Planner rules, each on its own: ids/get/empty modes, filter params, bounds, projection, sort, limit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from saasbridge.catalog import load_catalog
from saasbridge.catalog.model import Catalog, Entity, Field, FieldFilter, Pagination, Sort
from saasbridge.catalog.types import parse_type
from saasbridge.errors import UnknownEntityError
from saasbridge.query.bounds import render, step_up
from saasbridge.query.ir import (
    And,
    Between,
    Compare,
    Const,
    Contains,
    InList,
    IsNull,
    Not,
    Or,
    OrderBy,
    Query,
)
from saasbridge.query.planner import plan
from saasbridge.runtime import catalog_path

UTC = dt.UTC
T0 = dt.datetime(2024, 3, 5, 17, 4, 11, 250000, tzinfo=UTC)


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog(catalog_path())


def _custom() -> Catalog:
    """An API with operators the reference API lacks: IN lists, <=, >, contains, seconds-precision times."""
    fields = (
        Field("id", "id", parse_type("string"), nullable=False),
        Field("status", "status", parse_type("string"),
              filters=(FieldFilter("eq", "status"), FieldFilter("in", "status_in", max_values=3))),
        Field("score", "score", parse_type("int64"),
              filters=(FieldFilter("gt", "filter[score][{op}]", format="number"),
                       FieldFilter("le", "filter[score][{op}]", format="number"))),
        Field("ts", "ts", parse_type("timestamp"), nullable=False,
              filters=(FieldFilter("ge", "since", format="iso8601"), FieldFilter("lt", "until", format="iso8601"))),
        Field("name", "name", parse_type("string"), filters=(FieldFilter("contains", "q"),)),
        Field("day", "day", parse_type("date"), filters=(FieldFilter("lt", "before", format="date"),)),
    )
    e = Entity("items", "/items", fields, get_path="/items/{id}", sort=Sort(options=(("ts", True, "-ts"),)))
    return Catalog("x", "http://h", (e,), pagination=Pagination(max_page_size=50))


def test_equality_on_filterable_fields_becomes_params(cat):
    p = plan(cat, Query("accounts", where=And((Compare("country", "eq", "DE"), Compare("is_active", "eq", True)))))
    assert p.mode == "list"
    assert p.params == {"country": "DE", "is_active": "true"}
    assert p.residual == And((Compare("country", "eq", "DE"), Compare("is_active", "eq", True)))
    assert p.page_size == 1000 and p.expected_requests is None


def test_primary_key_in_list_uses_ids_param_in_batches(cat):
    ids = tuple(f"acc_{i:06d}" for i in range(1, 251))
    p = plan(cat, Query("accounts", where=InList("id", ids + (None,))))
    assert p.mode == "ids"
    assert p.ids == list(ids)
    assert [len(b) for b in p.id_batches()] == [100, 100, 50]
    assert p.expected_requests == 3


def test_primary_key_without_ids_param_uses_get_by_id():
    p = plan(_custom(), Query("items", where=Compare("id", "eq", "i1")))
    assert (p.mode, p.ids, p.expected_requests) == ("get", ["i1"], 1)


@pytest.mark.parametrize(
    "where",
    [
        And((Compare("country", "eq", "DE"), Compare("country", "eq", "FR"))),
        And((InList("id", ("a", "b")), InList("id", ("c",)))),
        And((Compare("employees", "gt", 10), Compare("employees", "lt", 5))),
        And((Compare("employees", "ge", 10), Compare("employees", "lt", 10))),
        And((IsNull("industry"), Compare("industry", "eq", "retail"))),
        And((Compare("country", "eq", "DE"), Compare("country", "ne", "DE"))),
        Const(False),
        Compare("country", "eq", None),
    ],
)
def test_contradictions_plan_no_request(cat, where):
    p = plan(cat, Query("accounts", where=where))
    assert p.mode == "empty" and p.expected_requests == 0


def test_limit_zero_is_empty(cat):
    assert plan(cat, Query("accounts", limit=0)).mode == "empty"


def test_satisfiable_ranges_are_not_empty(cat):
    where = And((Compare("employees", "ge", 10), Compare("employees", "le", 10)))
    assert plan(cat, Query("accounts", where=where)).mode == "list"


def test_timestamp_bounds_keep_every_row(cat):
    q = Query("accounts", where=And((Compare("updated_at", "gt", T0), Compare("updated_at", "le", T0))))
    assert plan(cat, q).mode == "empty"
    p = plan(cat, Query("accounts", where=Between("updated_at", T0, T0 + dt.timedelta(days=1))))
    # <= x is pushed as < x + 1 ms (the column holds milliseconds); >= x as is
    assert p.params["updated_since"] == "2024-03-05T17:04:11.250Z"
    assert p.params["updated_until"] == "2024-03-06T17:04:11.251Z"
    p = plan(cat, Query("accounts", where=Compare("updated_at", "gt", T0)))
    assert p.params == {"updated_since": "2024-03-05T17:04:11.250Z"}  # superset; residual drops = T0


def test_seconds_precision_format_widens_bounds():
    t = dt.datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    p = plan(_custom(), Query("items", where=And((Compare("ts", "ge", t), Compare("ts", "lt", t)))))
    assert p.mode == "empty"
    p = plan(_custom(), Query("items", where=And((Compare("ts", "ge", t), Compare("ts", "le", t + dt.timedelta(hours=1))))))
    assert p.params["since"] == "2024-01-01T00:00:00Z"  # floored
    assert p.params["until"] == "2024-01-01T01:00:01Z"  # ceiled


def test_integer_bounds_and_templates():
    p = plan(_custom(), Query("items", where=And((Compare("score", "ge", 5), Compare("score", "lt", 9)))))
    # >= 5 has no ge filter and no safe rewrite without knowing the API's precision: not pushed
    assert "filter[score][gt]" not in p.params
    assert p.params["filter[score][le]"] == "9"  # < 9 pushed as the wider <= 9
    p = plan(_custom(), Query("items", where=Compare("score", "gt", 5)))
    assert p.params == {"filter[score][gt]": "5"}


def test_in_list_pushed_when_the_api_takes_lists():
    p = plan(_custom(), Query("items", where=InList("status", ("a", "b"))))
    assert p.params == {"status_in": "a,b"}
    p = plan(_custom(), Query("items", where=InList("status", ("a", "b", "c", "d"))))
    assert "status_in" not in p.params  # more than max_values
    p = plan(_custom(), Query("items", where=InList("status", ("a",))))
    assert p.params == {"status": "a"}


def test_contains_and_date_bounds():
    p = plan(_custom(), Query("items", where=And((Contains("name", "ab"), Compare("day", "le", dt.date(2024, 1, 31))))))
    assert p.params == {"q": "ab", "before": "2024-02-01"}


def test_or_and_not_are_left_to_the_residual(cat):
    where = Or((Compare("country", "eq", "DE"), Compare("country", "eq", "FR")))
    p = plan(cat, Query("accounts", where=where, limit=5))
    assert p.params == {} and p.residual == where and p.page_size == 1000
    p = plan(cat, Query("accounts", where=Not(Compare("country", "eq", "DE"))))
    assert p.params == {}


def test_projection_includes_residual_columns_and_primary_key(cat):
    q = Query("accounts", columns=("name", "address_city"), where=Compare("country", "eq", "DE"))
    p = plan(cat, q)
    assert p.api_fields == ["id", "name", "address", "country"]
    assert p.params["fields"] == "id,name,address,country"
    assert plan(cat, Query("accounts")).api_fields is None


def test_limit_sets_page_size_only_when_filters_are_exact(cat):
    p = plan(cat, Query("accounts", where=Compare("country", "eq", "DE"), limit=7))
    assert (p.page_size, p.limit, p.expected_requests) == (7, 7, 1)
    p = plan(cat, Query("accounts", where=Compare("employees", "gt", 7), limit=7))
    assert (p.page_size, p.limit) == (1000, 7)
    assert plan(cat, Query("accounts", limit=2500)).page_size == 1000
    assert plan(cat, Query("accounts", limit=2500)).expected_requests == 3


def test_order_by_sortable_column_is_delivered(cat):
    p = plan(cat, Query("accounts", order_by=(OrderBy("updated_at", descending=True),), limit=3))
    assert p.ordered and p.params["sort"] == "-updated_at" and p.limit == 3 and p.page_size == 3
    p = plan(cat, Query("accounts", order_by=(OrderBy("id"),), limit=3))
    assert p.ordered and "sort" not in p.params
    p = plan(cat, Query("accounts", order_by=(OrderBy("name"),), limit=3))
    assert not p.ordered and p.limit is None  # the caller sorts everything, then limits


def test_unknown_columns_are_named(cat):
    with pytest.raises(UnknownEntityError, match="nope"):
        plan(cat, Query("accounts", where=Compare("nope", "eq", 1)))


def test_pushed_is_readable(cat):
    p = plan(cat, Query("accounts", columns=("id",), where=Compare("country", "eq", "DE"), limit=3))
    assert "country=DE" in p.pushed and any("page size 3" in s for s in p.pushed)


def test_render_and_step_up():
    assert render(T0, "epoch_ms", "exact") == str(int(T0.timestamp() * 1000))
    assert render(T0, "epoch_s", "exact") is None
    assert render(T0, "epoch_s", "ceil") == str(int(T0.timestamp()) + 1)
    assert render(Decimal("1.50"), "number", "exact") == "1.50"
    assert render(True, "number", "exact") is None
    assert step_up(Decimal("1.25"), parse_type("decimal(10,2)")) == Decimal("1.26")
    assert step_up(Decimal("-1.255"), parse_type("decimal(10,2)")) == Decimal("-1.25")
    assert step_up(5.5, parse_type("int64")) == 6
    assert step_up("a", parse_type("string")) is None


def _repos() -> Catalog:
    """A two-placeholder parent scope: /repos/{owner}/{repo}/issues under the repos entity."""
    from saasbridge.catalog import load_catalog_text

    return load_catalog_text("""
name: git
base_url: http://h
entities:
  - name: repos
    path: /repos
    fields: [{name: id, type: int64, nullable: false}, {name: owner_login, type: string}, {name: name, type: string}]
  - name: issues
    path: /repos/{owner}/{repo}/issues
    parent: {entity: repos, keys: {owner: owner_login, repo: name}}
    fields: [{name: id, type: int64, nullable: false}, {name: owner, type: string}, {name: repo, type: string},
             {name: state, type: string, filters: [{op: in, param: state, repeat: true}]}]
""")


def test_bound_placeholders_give_one_series_per_combination():
    p = plan(_repos(), Query("issues", where=And((Compare("owner", "eq", "o"), InList("repo", ("a", "b", "a"))))))
    assert p.scopes == [{"owner": "o", "repo": "a"}, {"owner": "o", "repo": "b"}] and p.parent_query is None
    assert p.params == {}  # bound in the path, not sent as parameters
    p = plan(_repos(), Query("issues", where=InList("state", ("open", "closed"))))
    assert p.params == {"state": ["open", "closed"]}  # repeated key


def test_partly_bound_placeholders_narrow_the_parent_read():
    p = plan(_repos(), Query("issues", where=Compare("owner", "eq", "o")))
    assert p.scopes is None
    assert p.parent_query == Query("repos", ("owner_login", "name"), InList("owner_login", ("o",)))
    assert plan(_repos(), Query("issues")).parent_query == Query("repos", ("owner_login", "name"), None)


def test_unbound_placeholder_without_parent_names_the_column():
    from saasbridge.catalog import load_catalog_text
    from saasbridge.errors import QueryError

    cat = load_catalog_text("""
name: x
base_url: http://h
entities:
  - name: notes
    path: /accounts/{account_id}/notes
    fields: [{name: id, type: string, nullable: false}, {name: account_id, type: string}]
""")
    with pytest.raises(QueryError, match=r"notes is listed per account_id .*WHERE account_id ="):
        plan(cat, Query("notes", where=Compare("id", "eq", "n1")))
    assert plan(cat, Query("notes", where=Compare("account_id", "eq", "a"))).scopes == [{"account_id": "a"}]
