"""Stripe-shaped API (tests/saas_stubs/stripe.py): the list paged by the last object's id
(`starting_after` + `has_more`), exact list filters kept on the list, the rest compiled into the
Search Query Language string of /v1/customers/search; exact rows through both connectors
against brute force over the stub's data, at the fewest requests."""

from __future__ import annotations

import math
import os

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from athena_connector import protocol as p
from saasbridge.catalog import load_catalog
from saasbridge.query import ir
from saasbridge.query.planner import plan
from tests.helpers import eval_ir
from tests.saas_stubs.deploy import STUBS, deployment
from tests.saas_stubs.stripe import API_KEY, NAMES, Stripe, make_customers, parse_query

SEARCH = "/v1/customers/search"
LIST = "/v1/customers"


stripe = deployment("stripe.yaml", {"apiKey": API_KEY})


def ids(api: Stripe, keep) -> list[str]:
    return sorted(c["id"] for c in api.customers if keep(c))


@pytest.mark.parametrize("connector", ["athena", "appflow"])
def test_the_list_pages_by_the_last_id_until_has_more_is_false(stripe, connector):
    api = Stripe(230)
    d = stripe(api)
    rows = d.athena("customers") if connector == "athena" else d.appflow("customers")
    assert sorted(r["id"] for r in rows) == ids(api, lambda c: True)
    paths = [(r.path, r.query.get("starting_after")) for r in d.taken()]
    assert len(paths) == math.ceil(230 / 100)
    assert paths[0] == (LIST, None)
    assert [a for _, a in paths[1:]] == [api.customers[99]["id"], api.customers[199]["id"]]


def test_a_filter_the_list_takes_stays_on_the_list(stripe):
    api = Stripe(230)
    d = stripe(api)
    email = api.customers[17]["email"]
    rows = d.appflow("customers", expression=f"email = '{email}'")
    assert [r["id"] for r in rows] == ids(api, lambda c: c["email"] == email)
    assert [(r.path, r.query.get("email")) for r in d.taken()] == [(LIST, email)]


CASES = [
    ("name = 'Amy O\\'Hara'", lambda c: c["name"] == "Amy O'Hara", 'name:"Amy O\'Hara"'),
    ("name = 'Dr. \"Doc\" Brown'", lambda c: c["name"] == 'Dr. "Doc" Brown', 'name:"Dr. \\"Doc\\" Brown"'),
    ("name = 'back\\\\slash'", lambda c: c["name"] == "back\\slash", 'name:"back\\\\slash"'),
    ("name = 'Ann' or balance > 4000", lambda c: c["name"] == "Ann" or c["balance"] > 4000,
     'name:"Ann" OR balance>4000'),
    ("name != 'Ann' and currency = 'eur' and balance <= -100",
     lambda c: c["name"] != "Ann" and c["currency"] == "eur" and c["balance"] <= -100,
     'name:"Ann"'),
    ("(name = 'Ann' or name = 'Bob Stone') and balance > 0",  # no parentheses: the OR stays residual
     lambda c: c["name"] in ("Ann", "Bob Stone") and c["balance"] > 0, "balance>0"),
]


@pytest.mark.parametrize(("expression", "keep", "sent"), CASES, ids=[c[0] for c in CASES])
def test_appflow_filters_compile_into_one_search_query(stripe, expression, keep, sent):
    api = Stripe(230)
    d = stripe(api)
    rows = d.appflow("customers", expression=expression, fields=["id", "name", "balance"])
    assert sorted(r["id"] for r in rows) == ids(api, keep)
    taken = d.taken()
    assert [r.path for r in taken] == [SEARCH] * len(taken)
    want = len([c for c in api.customers if parse_query(taken[0].query["query"])(c)])
    assert len(taken) == max(1, math.ceil(want / 100))
    assert sent in taken[0].query["query"]


def test_athena_value_sets_become_a_flat_or(stripe):
    api = Stripe(230)
    d = stripe(api)
    names = ["Zoë Ng", "Jenny Rosen", 'Dr. "Doc" Brown']
    rows = d.athena("customers", summary={"name": p.values_in(pa.string(), names)}, columns=["id", "name"])
    want = ids(api, lambda c: c["name"] in names)
    assert sorted(r["id"] for r in rows) == want
    taken = d.taken()
    assert [r.path for r in taken] == [SEARCH] * math.ceil(len(want) / 100)
    assert taken[0].query["query"].count(" OR ") == 2


def test_more_clauses_than_the_grammar_takes_fall_back_to_an_exact_residual(stripe):
    api = Stripe(230)
    d = stripe(api)
    balances = list(range(-5000, -4960))  # 40 values: an OR of 40 clauses is more than 10
    summary = {"balance": p.values_in(pa.int64(), balances)}
    rows = d.athena("customers", summary=summary, columns=["id", "balance"])
    assert sorted(r["id"] for r in rows) == ids(api, lambda c: c["balance"] in balances)
    taken = d.taken()
    assert {r.path for r in taken} == {LIST} and len(taken) == 3  # the whole list, filtered here


def test_created_range_stays_on_the_list(stripe):
    api = Stripe(230)
    d = stripe(api)
    cut = api.customers[120]["created"]
    summary = {"created": p.sorted_range_set(pa.int64(), [p.range_of(cut, None)])}
    rows = d.athena("customers", summary=summary, columns=["id", "created"])
    assert sorted(r["id"] for r in rows) == ids(api, lambda c: c["created"] >= api.customers[120]["created"])
    taken = d.taken()
    assert len(taken) == 2  # 121 rows, newest first, at 100 a page
    assert all(r.path == LIST and r.query["created[gte]"] == str(cut) for r in taken)


# ------------------------------------------------------------------ the compiler, property-based

TEXT = st.one_of(st.sampled_from(NAMES), st.text(alphabet='ab"\\\' :-()OR', max_size=6))


def _atoms():
    return st.one_of(
        st.builds(ir.Compare, st.just("name"), st.sampled_from(["eq", "ne"]), TEXT),
        st.builds(ir.Compare, st.just("balance"), st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]),
                  st.integers(-6000, 6000)),
        st.builds(lambda xs: ir.InList("name", tuple(xs)), st.lists(TEXT, min_size=1, max_size=4)),
        st.builds(ir.Compare, st.just("created"), st.sampled_from(["lt", "ge", "gt", "le"]),
                  st.integers(1_689_000_000, 1_731_000_000)),
    )


EXPRS = st.recursive(_atoms(), lambda inner: st.one_of(
    st.builds(lambda xs: ir.And(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
    st.builds(lambda xs: ir.Or(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
    st.builds(ir.Not, inner)), max_leaves=6)


def _sql(expr, c: dict):
    return eval_ir(expr, {"name": c["name"], "balance": c["balance"], "created": c["created"]})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRS)
def test_the_query_string_parses_and_selects_a_superset(expr):
    """Whatever the WHERE and its values (quotes, backslashes, keywords), the compiled query is
    valid Stripe syntax (the stub's parser accepts it) and keeps every row the WHERE keeps."""
    catalog = load_catalog(STUBS / "stripe.yaml", env={**os.environ, "SAASBRIDGE_API_URL": "http://127.0.0.1:9"})
    planned = plan(catalog, ir.Query("customers", ("id",), expr))
    if planned.mode == "empty" or "query" not in planned.params:
        return
    keep = parse_query(planned.params["query"])
    for c in CUSTOMERS:
        if _sql(expr, c):
            assert keep(c), (planned.params["query"], c)


CUSTOMERS = make_customers(150, seed=5)
