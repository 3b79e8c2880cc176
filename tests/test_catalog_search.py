"""Search endpoints, batch reads, dynamic properties and the new paging / batch-write keys in the
catalog (issue 24): the model matches the schema, every mistake is one line naming the fix; the
client pages a last-id listing and a search body, and resumes both exactly."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from saasbridge.catalog import catalog_from_dict, catalog_schema, load_catalog_text
from saasbridge.catalog import search as model
from saasbridge.catalog.model import Pagination
from saasbridge.client import SaasClient
from saasbridge.client.endpoint import Endpoint
from saasbridge.errors import ApiError, CatalogError
from saasbridge.local.httpstub import StubReply, StubRequest, StubServer, dataset, reply, stub_catalog
from saasbridge.query import ir
from saasbridge.query.planner import plan
from tests.helpers import eval_ir

BASE = """
name: t
base_url: https://api.example.com
entities:
  - name: items
    path: /items
    fields:
      - {name: id, type: string, nullable: false}
      - {name: name, type: string}
      - {name: created_at, type: timestamp, nullable: false}
"""


def _with(entity_extra: dict) -> str:
    doc = yaml.safe_load(BASE)
    doc["entities"][0].update(entity_extra)
    return yaml.safe_dump(doc)


def test_the_search_model_matches_the_schema():
    defs = catalog_schema()["$defs"]
    renamed = {"and_": "and", "or_": "or", "not_": "not"}  # Python keywords
    for cls, key in ((model.Search, "search"), (model.BodyFilter, "body_filter"), (model.QueryLanguage, "query_language"),
                     (model.SearchSort, "search_sort"), (model.BatchRead, "batch_read"),
                     (model.DynamicProperties, "dynamic_properties")):
        attrs = {renamed.get(f.name, f.name) for f in dataclasses.fields(cls)}
        assert attrs == set(defs[key]["properties"]), cls.__name__


QUERY = {"param": "q", "operators": {"eq": "{field}:{value}"}}
FILTER = {"at": "f", "condition": {"p": "{field}"}, "operators": {"eq": "EQ"}, "and": {"all": "{items}"}}
MISTAKES = [
    ({"search": {"path": "/s"}}, "entities[0].search: a search needs exactly one of filter"),
    ({"search": {"path": "/s", "query": QUERY, "filter": FILTER}}, "needs exactly one of filter"),
    ({"search": {"path": "/s", "query": QUERY, "max_results": 100}}, "search.cap_field: max_results needs cap_field"),
    ({"search": {"path": "/s", "query": QUERY, "max_results": 100, "cap_field": "name"}}, "non-nullable timestamp"),
    ({"search": {"path": "/s", "query": QUERY, "max_results": 100, "cap_field": "created_at"}},
     "search.pagination: max_results needs pagination.total_path"),
    ({"search": {"path": "/s", "query": {**QUERY, "template": "type:ticket"}}}, "the template needs {filter}"),
    ({"search": {"path": "/s", "query": {"param": "q", "operators": {"eq": "{value}"}}}}, "needs {field}"),
    ({"search": {"path": "/s", "query": {"param": "q", "operators": {"eq": "{field}:{x}"}}}}, "may use only"),
    ({"search": {"path": "/s", "query": {"param": "q", "operators": {"equals": "{field}"}}}}, "'equals' is not allowed"),
    ({"search": {"path": "/s", "filter": {**FILTER, "shape": "tree"}}}, "a tree filter needs and and or"),
    ({"search": {"path": "/s", "query": QUERY, "filterable": ["nme"]}}, "did you mean 'name'"),
    ({"search": {"path": "/s", "query": QUERY, "cap_start": "soon"}}, "cap_start: not an ISO date"),
    ({"writes": [{"op": "update", "method": "PATCH", "path": "/items/{id}", "item_key": "properties"}]},
     "item_key shapes the items of a batch"),
    ({"pagination": {"style": "last_id", "id_path": ""}}, "the value is empty"),
]


@pytest.mark.parametrize(("extra", "words"), MISTAKES, ids=range(len(MISTAKES)))
def test_each_search_mistake_is_one_line_naming_the_fix(extra, words):
    with pytest.raises(CatalogError) as exc:
        load_catalog_text(_with(extra), source="t.yaml")
    message = str(exc.value)
    assert "\n" not in message and words in message, message
    assert message.startswith("t.yaml:")


# ------------------------------------------------------------------ client: last id, search bodies


def last_id_api(request: StubRequest) -> StubReply:
    """Stripe-like: ids in order, `starting_after` = the last id, `has_more`."""
    rows = dataset(23)
    limit = int(request.query["limit"])
    after = request.query.get("starting_after")
    start = next(i + 1 for i, r in enumerate(rows) if r["id"] == after) if after else 0
    return reply({"data": rows[start : start + limit], "has_more": start + limit < len(rows)})


def test_last_id_pages_every_row_once_and_resumes_from_any_page():
    with StubServer(last_id_api) as server:
        paging = Pagination(style="last_id", cursor_param="starting_after", has_more_path="has_more")
        client = SaasClient(stub_catalog(server.url, pagination=paging))
        entity = client.catalog.entities[0]
        pages = list(client.list_pages(entity, {}, page_size=5))
        assert [r["id"] for p in pages for r in p.records] == [r["id"] for r in dataset(23)]
        assert len(server.requests) == 5 and pages[-1].resume is None
        for k, page in enumerate(pages[:-1]):
            rest = list(client.list_pages(entity, {}, page_size=5, resume=page.resume))
            assert [r["id"] for p in rest for r in p.records] == [r["id"] for p in pages[k + 1 :] for r in p.records]


def test_since_id_ends_on_an_empty_page():
    rows = dataset(7)

    def api(request: StubRequest) -> StubReply:
        since = request.query.get("since_id")
        start = next(i + 1 for i, r in enumerate(rows) if r["id"] == since) if since else 0
        return reply({"data": rows[start : start + int(request.query["limit"])]})

    with StubServer(api) as server:
        client = SaasClient(stub_catalog(server.url, pagination=Pagination(style="last_id", cursor_param="since_id")))
        got = [r for p in client.list_pages(client.catalog.entities[0], {}, page_size=3) for r in p.records]
        assert got == rows and len(server.requests) == 4  # 3 + 3 + 1, then the empty page


def test_a_record_without_the_id_is_a_clear_error():
    with StubServer(lambda r: reply({"data": [{"n": 1}], "has_more": True})) as server:
        paging = Pagination(style="last_id", cursor_param="starting_after", has_more_path="has_more")
        client = SaasClient(stub_catalog(server.url, pagination=paging))
        with pytest.raises(ApiError, match="the last record has no 'id' to page on; set pagination.id_path"):
            list(client.list_pages(client.catalog.entities[0], {}, page_size=5))


def test_a_search_body_carries_the_paging_and_is_sent_again_after_a_500():
    rows = dataset(9)
    failures = [True]

    def api(request: StubRequest) -> StubReply:
        body = request.json()
        if failures and body.get("after") == "4":
            failures.pop()
            return reply({"message": "boom"}, 500)
        start = int(body.get("after") or 0)
        end = start + body["page"]["size"]
        nxt = {"next": {"after": str(end)}} if end < len(rows) else {}
        return reply({"results": rows[start:end], "paging": nxt, "total": len(rows)})

    with StubServer(api) as server:
        client = SaasClient(stub_catalog(server.url))
        paging = Pagination(style="cursor", cursor_param="after", cursor_path="paging.next.after",
                            limit_param="page.size", total_path="total")
        endpoint = Endpoint("/search", "POST", {"filter": {"x": 1}}, paging, "results")
        pages = list(client.list_pages(client.catalog.entities[0], {}, page_size=4, endpoint=endpoint))
        assert [r for p in pages for r in p.records] == rows and {p.total for p in pages} == {9}
        sent = [orjson.loads(r.body) for r in server.requests]
        assert sent[0] == {"filter": {"x": 1}, "page": {"size": 4}}
        assert [s.get("after") for s in sent] == [None, "4", "4", "8"]  # the failed POST was sent again
        assert all(r.method == "POST" and r.path == "/search" for r in server.requests)


# ------------------------------------------------------------------ a tree-shaped body (Intercom)

INTERCOM = {
    "name": "intercom", "base_url": "http://127.0.0.1:9", "auth": {"type": "none"},
    "entities": [{"name": "contacts", "path": "/contacts", "fields": [
        {"name": "id", "type": "string", "nullable": False}, {"name": "role", "type": "string"},
        {"name": "score", "type": "int64"}],
        "search": {"path": "/contacts/search", "native_values": True, "filter": {
            "at": "query", "shape": "tree", "condition": {"field": "{field}", "operator": "{op}", "value": "{value}"},
            "conditions": {"in": {"field": "{field}", "operator": "{op}", "value": "{values}"}},
            "operators": {"eq": "=", "ne": "!=", "lt": "<", "gt": ">", "in": "IN"},
            "and": {"operator": "AND", "value": "{items}"}, "or": {"operator": "OR", "value": "{items}"},
            "max_depth": 2, "max_items": 3},
            "pagination": {"style": "cursor", "cursor_param": "pagination.starting_after",
                           "limit_param": "pagination.per_page", "cursor_path": "pages.next.starting_after",
                           "max_page_size": 150}}}]}


def _intercom_matches(node: dict, row: dict) -> bool:
    """Intercom's query semantics, for the test: AND/OR nodes, comparisons false on null."""
    if node.get("operator") in ("AND", "OR"):
        parts = [_intercom_matches(n, row) for n in node["value"]]
        return all(parts) if node["operator"] == "AND" else any(parts)
    v, op, want = row[node["field"]], node["operator"], node["value"]
    if op == "!=":
        return v != want
    if v is None:
        return False
    if op == "IN":
        return v in want
    return {"=": v == want, "<": v < want, ">": v > want}[op]


ROWS = [{"role": r, "score": s} for r in ("user", "lead", None) for s in (None, 1, 5, 9)]
ATOMS = st.one_of(
    st.builds(ir.Compare, st.just("role"), st.sampled_from(["eq", "ne"]), st.sampled_from(["user", "lead", "x"])),
    st.builds(ir.Compare, st.just("score"), st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]), st.integers(0, 10)),
    st.builds(lambda xs: ir.InList("role", tuple(xs)), st.lists(st.sampled_from(["user", "lead"]), min_size=1)),
    st.builds(ir.IsNull, st.sampled_from(["role", "score"]), st.booleans()),
)
TREES = st.recursive(ATOMS, lambda inner: st.one_of(
    st.builds(lambda xs: ir.And(tuple(xs)), st.lists(inner, min_size=2, max_size=4)),
    st.builds(lambda xs: ir.Or(tuple(xs)), st.lists(inner, min_size=2, max_size=4)),
    st.builds(ir.Not, inner)), max_leaves=9)


@settings(max_examples=200, deadline=None)
@given(TREES)
def test_a_tree_body_keeps_every_row_within_depth_and_width(expr):
    planned = plan(catalog_from_dict(INTERCOM), ir.Query("contacts", ("id",), expr))
    if planned.mode == "empty":
        assert not any(eval_ir(expr, r) for r in ROWS)
        return
    query = (planned.endpoint.body or {}).get("query") if planned.endpoint else None
    if query is None:
        return

    def shape(node: dict, depth: int) -> None:
        if node.get("operator") in ("AND", "OR"):
            assert depth < 2 and len(node["value"]) <= 3
            for child in node["value"]:
                shape(child, depth + 1)
        elif node["field"] == "score" and node["operator"] != "IN":
            assert isinstance(node["value"], int)  # native_values: a JSON number

    shape(query, 0)
    for r in ROWS:
        if eval_ir(expr, r):
            assert _intercom_matches(query, r), (query, r)


def test_a_tree_body_pages_in_nested_body_paths():
    expr = ir.Or((ir.Compare("role", "eq", "lead"), ir.And((ir.Compare("score", "gt", 3), ir.Compare("role", "ne", "x")))))
    planned = plan(catalog_from_dict(INTERCOM), ir.Query("contacts", ("id",), expr), page_size=50)
    assert planned.endpoint.body["query"] == {"operator": "OR", "value": [
        {"field": "role", "operator": "=", "value": "lead"},
        {"operator": "AND", "value": [{"field": "score", "operator": ">", "value": 3},
                                      {"field": "role", "operator": "!=", "value": "x"}]}]}
    assert planned.page_size == 50 and planned.endpoint.pagination.limit_param == "pagination.per_page"
