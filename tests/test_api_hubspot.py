"""HubSpot-shaped API (tests/saas_stubs/hubspot.py): filters pushed into the POST search body
through both connectors, exact rows against brute force over the stub's data, the fewest
requests; the result cap cut into time windows; batch reads and writes mapped back; properties
discovered per tenant."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from athena_connector import protocol as p
from saasbridge.catalog import load_catalog
from saasbridge.client import Credentials, SaasClient
from saasbridge.client import properties as dynamic
from saasbridge.errors import ApiError
from saasbridge.local.httpstub import StubServer
from saasbridge.query import ir
from saasbridge.query.planner import plan
from saasbridge.query.reader import read
from tests.helpers import eval_ir
from tests.saas_stubs.deploy import STUBS, deployment
from tests.saas_stubs.hubspot import TOKEN, HubSpot, make_contacts

SEARCH = "/crm/v3/objects/contacts/search"
CATALOG = STUBS / "hubspot.yaml"


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def truth(api: HubSpot, keep) -> set[str]:
    """Brute force: the ids of the contacts whose properties satisfy `keep`."""
    return {i for i, props in api.contacts.items() if keep(props)}


def employees(props: dict) -> Decimal | None:
    return Decimal(props["num_employees"]) if "num_employees" in props else None


_deployed = deployment("hubspot.yaml", {"apiKey": TOKEN})


@pytest.fixture
def hubspot(_deployed):
    return lambda api, cap=10_000: _deployed(api, HUBSPOT_SEARCH_CAP=str(cap))


def searches(requests) -> list[dict]:
    return [orjson.loads(r.body) for r in requests if r.path == SEARCH]


CUT = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
APPFLOW_CASES = [
    ("lifecyclestage = 'lead'", lambda c: c["lifecyclestage"] == "lead"),
    ("lifecyclestage = 'lead' or num_employees > 4000",
     lambda c: c["lifecyclestage"] == "lead" or (employees(c) or 0) > 4000),
    ("firstname = 'O\\'Neil' and created_at >= 2024-03-01T00:00:00.000Z",
     lambda c: c["firstname"] == "O'Neil" and _ts(c["createdate"]) >= CUT),
    ("lifecyclestage in ('customer', 'other') and num_employees between 100 and 900",
     lambda c: c["lifecyclestage"] in ("customer", "other") and employees(c) is not None and 100 <= employees(c) <= 900),
    ("not (lifecyclestage = 'lead') and firstname != 'Ann'",
     lambda c: c["lifecyclestage"] != "lead" and c["firstname"] != "Ann"),
]


@pytest.mark.parametrize(("expression", "keep"), APPFLOW_CASES, ids=[c[0] for c in APPFLOW_CASES])
def test_appflow_filters_go_into_the_search_body_in_one_request(hubspot, expression, keep):
    api = HubSpot(260)
    d = hubspot(api)
    rows = d.appflow("contacts", expression=expression, fields=["id", "email", "lifecyclestage"])
    assert {r["id"] for r in rows} == truth(api, keep)
    assert len(rows) == len({r["id"] for r in rows})  # no duplicate
    taken = d.taken()
    bodies = searches(taken)
    assert len(bodies) == 1 and bodies[0]["filterGroups"]  # everything in one search
    assert [r.path for r in taken if r.path != "/crm/v3/properties/contacts"] == [SEARCH]


def test_athena_constraints_go_into_the_search_body(hubspot):
    api = HubSpot(260)
    d = hubspot(api)
    summary = {
        "lifecyclestage": p.values_in(pa.string(), ["lead", "customer"]),
        "num_employees": p.sorted_range_set(pa.decimal128(18, 0), [p.range_of(Decimal(2500), None, low_inclusive=False)]),
    }
    rows = d.athena("contacts", summary=summary, columns=["id", "lifecyclestage", "num_employees"])
    want = truth(api, lambda c: c["lifecyclestage"] in ("lead", "customer") and (employees(c) or 0) > 2500)
    assert {r["id"] for r in rows} == want and len(rows) == len(want)
    for r in rows:
        assert r["num_employees"] == employees(api.contacts[r["id"]])
    bodies = searches(d.taken())
    assert len(bodies) == 1
    (group,) = bodies[0]["filterGroups"]
    assert {f["operator"] for f in group["filters"]} == {"IN", "GT"}


def test_a_read_without_filters_lists_with_every_property(hubspot):
    api = HubSpot(260)
    d = hubspot(api)
    rows = d.appflow("contacts", fields=["id", "num_employees", "favorite_color"])
    assert len(rows) == 260
    for r in rows:
        props = api.contacts[r["id"]]
        assert r.get("num_employees") == (int(props["num_employees"]) if "num_employees" in props else None)
    lists = [r for r in d.taken() if r.path == "/crm/v3/objects/contacts"]
    assert len(lists) == 3  # 260 rows at the list's maximum of 100


@pytest.mark.parametrize("connector", ["athena", "appflow"])
def test_a_search_over_the_cap_is_cut_into_time_windows_never_truncated(hubspot, connector):
    api = HubSpot(260, cap=40)
    d = hubspot(api, cap=40)
    if connector == "athena":
        rows = d.athena("contacts", summary={"lifecyclestage": p.values_in(pa.string(), ["lead", "customer", "other"])},
                        columns=["id", "created_at"])
    else:
        rows = d.appflow("contacts", expression="lifecyclestage != 'subscriber'", fields=["id", "created_at"])
    want = truth(api, lambda c: c["lifecyclestage"] != "subscriber")
    assert len(want) > 40
    assert sorted(r["id"] for r in rows) == sorted(want)
    for body in searches(d.taken()):
        assert int(body.get("after") or 0) < 40  # never paged past the cap


def test_order_by_the_cap_field_holds_across_windows():
    api = HubSpot(150, cap=30)
    with StubServer(api) as server:
        catalog = load_catalog(CATALOG, env={"SAASBRIDGE_API_URL": server.url, "HUBSPOT_SEARCH_CAP": "30"})
        client = SaasClient(catalog, Credentials({"accessToken": TOKEN}))
        query = ir.Query("contacts", ("id", "created_at"), ir.Compare("lifecyclestage", "ne", "lead"),
                         order_by=(ir.OrderBy("created_at"),))
        reader = read(client, catalog, query)
        rows = [row for page in reader for row in page.batch.to_pylist()]
        assert reader.plan.ordered
    want = sorted(truth(api, lambda c: c["lifecyclestage"] != "lead"), key=lambda i: api.contacts[i]["createdate"])
    assert [r["id"] for r in rows] == want


def test_a_read_resumes_exactly_inside_the_windows():
    """Page by page, each page's resume state in a new reader: the same rows, once each."""
    api = HubSpot(200, cap=30)
    with StubServer(api) as server:
        catalog = load_catalog(CATALOG, env={"SAASBRIDGE_API_URL": server.url, "HUBSPOT_SEARCH_CAP": "30"})
        client = SaasClient(catalog, Credentials({"accessToken": TOKEN}))
        query = ir.Query("contacts", ("id",), ir.InList("lifecyclestage", ("lead", "other", "customer")))
        ids, resume = [], None
        for _ in range(200):
            reader = read(client, catalog, query, resume=resume, page_size=7)
            page = next(reader)
            ids += [r["id"] for r in page.batch.to_pylist()]
            resume = page.resume
            reader.close()
            if resume is None:
                break
    assert sorted(ids, key=int) == sorted(truth(api, lambda c: c["lifecyclestage"] != "subscriber"), key=int)


def test_ids_are_read_in_one_batch_read(hubspot):
    api = HubSpot(260)
    d = hubspot(api)
    wanted = ["7", "12", "250", "999"]  # 999 does not exist
    rows = d.athena("contacts", summary={"id": p.values_in(pa.string(), wanted)}, columns=["id", "email"])
    assert sorted(r["id"] for r in rows) == ["12", "250", "7"]
    assert all(r["email"] == api.contacts[r["id"]]["email"] for r in rows)
    taken = [r for r in d.taken() if r.path != "/crm/v3/properties/contacts"]
    assert [r.path for r in taken] == ["/crm/v3/objects/contacts/batch/read"]
    assert sorted(i["id"] for i in orjson.loads(taken[0].body)["inputs"]) == sorted(wanted)


def test_batch_writes_map_each_result_back_to_its_record():
    api = HubSpot(20)
    with StubServer(api) as server:
        catalog = load_catalog(CATALOG, env={"SAASBRIDGE_API_URL": server.url})
        client = SaasClient(catalog, Credentials({"accessToken": TOKEN}))
        contacts = catalog.entity("contacts")
        new = [{"email": f"new{i}@x.com", "num_employees": "12" if i % 3 else "many"} for i in range(7)]
        results = client.write(contacts, "insert", new)
        assert [r.ok for r in results] == [bool(i % 3) for i in range(7)]
        for record, result in zip(new, results, strict=True):
            if result.ok:  # the id the API gave this very record (results come back shuffled)
                assert api.contacts[result.id]["email"] == record["email"]
            else:
                assert "num_employees" in result.error
        updates = [{"id": "3", "lastname": "Changed"}, {"id": "404", "lastname": "X"}, {"id": "5", "num_employees": "x"}]
        results = client.write(contacts, "update", updates)
        assert [(r.ok, r.id) for r in results] == [(True, "3"), (False, "404"), (False, "5")]
        assert api.contacts["3"]["lastname"] == "Changed"
        assert len(server.requests) == 2  # one batch request each


def test_properties_are_discovered_per_tenant_cached_and_a_vanished_one_reads_null():
    api = HubSpot(30)
    dynamic.clear_cache()
    with StubServer(api) as server:
        catalog = load_catalog(CATALOG, env={"SAASBRIDGE_API_URL": server.url})
        client = SaasClient(catalog, Credentials({"accessToken": TOKEN}))
        query = ir.Query("contacts", ("id", "favorite_color"), ir.Compare("favorite_color", "eq", "green"))
        reader = read(client, catalog, query)
        assert "favorite_color" in reader.plan.entity.column_names
        rows = [row for page in reader for row in page.batch.to_pylist()]
        assert {r["id"] for r in rows} == truth(api, lambda c: c.get("favorite_color") == "green")
        assert '"favorite_color"' in server.requests[-1].body.decode()  # pushed into the search
        metadata = [r for r in server.requests if r.path == "/crm/v3/properties/contacts"]
        assert len(metadata) == 1
        for props in api.contacts.values():  # the property vanishes after discovery
            props.pop("favorite_color", None)
        rows = [row for page in read(client, catalog, ir.Query("contacts", ("id", "favorite_color")))
                for row in page.batch.to_pylist()]
        assert len(rows) == 30 and all(r["favorite_color"] is None for r in rows)
        assert len([r for r in server.requests if r.path == "/crm/v3/properties/contacts"]) == 1  # cached
    dynamic.clear_cache()


# ------------------------------------------------------------------ the compiler, property-based

COLUMNS = {"lifecyclestage": st.sampled_from(["lead", "customer", "other", "subscriber", "x"]),
           "firstname": st.sampled_from(["Ann", "O'Neil", 'Eve "E"', "Zoë", "Bob"]),
           "num_employees": st.integers(0, 5000).map(Decimal),
           "created_at": st.datetimes(dt.datetime(2022, 6, 1), dt.datetime(2025, 6, 1),
                                      timezones=st.just(dt.UTC))}


def _atoms():
    def atom(column: str):
        v = COLUMNS[column]
        return st.one_of(
            st.builds(ir.Compare, st.just(column), st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]), v),
            st.builds(lambda xs, n: ir.InList(column, tuple(xs), n), st.lists(v, min_size=1, max_size=4), st.booleans()),
            st.builds(lambda a, b: ir.Between(column, min(a, b), max(a, b)), v, v),
            st.builds(ir.IsNull, st.just(column), st.booleans()),
        )
    return st.one_of(*(atom(c) for c in COLUMNS))


EXPRS = st.recursive(_atoms(), lambda inner: st.one_of(
    st.builds(lambda xs: ir.And(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
    st.builds(lambda xs: ir.Or(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
    st.builds(ir.Not, inner)), max_leaves=8)


def _sql(expr, c: dict):
    """SQL truth of `expr` on one contact's properties (None = unknown)."""
    return eval_ir(expr, {"lifecyclestage": c.get("lifecyclestage"), "firstname": c.get("firstname"),
                          "num_employees": employees(c), "created_at": _ts(c["createdate"])})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRS)
def test_the_search_body_selects_a_superset_within_hubspots_limits(expr):
    """Whatever the WHERE, the compiled filterGroups (evaluated by the stub's own semantics)
    keep every contact the WHERE keeps, and respect 5 groups / 10 a group / 25 in all."""
    api = HubSpot(0)
    api.contacts = CONTACTS
    catalog = load_catalog(CATALOG, env={**os.environ, "SAASBRIDGE_API_URL": "http://127.0.0.1:9"})
    query = ir.Query("contacts", ("id",), expr)
    planned = plan(catalog, query)
    if planned.mode == "empty":
        assert not any(_sql(expr, c) for c in CONTACTS.values())
        return
    groups = (planned.endpoint.body or {}).get("filterGroups") if planned.endpoint else None
    if not groups:
        return  # nothing pushed: the list endpoint reads everything
    assert len(groups) <= 5 and all(len(g["filters"]) <= 10 for g in groups)
    assert sum(len(g["filters"]) for g in groups) <= 25
    for contact_id, props in CONTACTS.items():
        if _sql(expr, props):
            assert any(api._group(contact_id, g) for g in groups), (contact_id, groups)


CONTACTS = make_contacts(120, seed=11)


def test_more_rows_than_the_cap_in_one_millisecond_is_an_error_not_a_truncation():
    api = HubSpot(60, cap=10)
    for props in api.contacts.values():
        props["createdate"] = "2024-05-05T05:05:05.005Z"
    with StubServer(api) as server:
        catalog = load_catalog(CATALOG, env={"SAASBRIDGE_API_URL": server.url, "HUBSPOT_SEARCH_CAP": "10"})
        client = SaasClient(catalog, Credentials({"accessToken": TOKEN}))
        query = ir.Query("contacts", ("id",), ir.Compare("lifecyclestage", "ne", "zzz"))
        with pytest.raises(ApiError) as exc:
            [row for page in read(client, catalog, query) for row in page.batch.to_pylist()]
    assert "\n" not in str(exc.value) and "more than the search's cap of 10" in str(exc.value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(EXPRS, st.sampled_from([None, 25]))
def test_reads_are_exact_whatever_the_where_and_the_cap(expr, cap):
    """End to end over HTTP: the rows of any WHERE (pushed into the body as far as it goes, cut
    into windows when over a cap) are exactly the brute-force rows, each once."""
    api = HubSpot(0, cap=cap or 10_000)
    api.contacts = CONTACTS
    env = {"SAASBRIDGE_API_URL": "", "HUBSPOT_SEARCH_CAP": str(cap or 10_000)}
    with StubServer(api) as server:
        env["SAASBRIDGE_API_URL"] = server.url
        catalog = load_catalog(CATALOG, env=env)
        client = SaasClient(catalog, Credentials({"accessToken": TOKEN}))
        rows = [r["id"] for page in read(client, catalog, ir.Query("contacts", ("id",), expr), page_size=20)
                for r in page.batch.to_pylist()]
    assert sorted(rows, key=int) == sorted((i for i, c in CONTACTS.items() if _sql(expr, c)), key=int)
