"""`from-openapi`: drafts from the real reference API's /openapi.json read every entity unedited,
and the mapping rules hold on small hand-written documents."""

from __future__ import annotations

import gzip
import json
import time
from contextlib import ExitStack
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from saasbridge.catalog import catalog_from_dict, load_catalog, load_catalog_text
from saasbridge.catalog.openapi import draft_catalog, draft_catalog_yaml, load_openapi, snake_case
from saasbridge.errors import CatalogError
from saasbridge.runtime import catalog_path
from tests.athena_driver import scan
from tests.helpers import reset_connectors
from tests.saas_stubs import deploy

TENANT_KEYS = {"acme": "demo-acme-key", "globex": "demo-globex-key"}


@pytest.fixture(scope="module")
def reference_openapi(reference_api):
    return load_openapi(f"{reference_api.url}/openapi.json")


@pytest.fixture(scope="module")
def draft(reference_api):
    source = f"{reference_api.url}/openapi.json"
    text = draft_catalog_yaml(load_openapi(source), source=source)
    return load_catalog_text(text, source="draft.yaml", env={})


def test_draft_has_every_entity_with_the_demo_catalogs_columns_and_types(draft):
    demo = load_catalog(catalog_path())
    assert [e.name for e in draft.entities] == [e.name for e in demo.entities]
    for entity in demo.entities:
        drafted = draft.entity(entity.name)
        top = [f for f in entity.fields if "." not in f.api_name]  # the demo adds flattened address_* columns
        assert [f.name for f in drafted.fields] == [f.name for f in top]
        for f in top:
            d = drafted.field(f.name)
            assert d.nullable == f.nullable, (entity.name, f.name)
            # decimals and integers may be drafted wider; the kind must agree
            assert d.type.kind == f.type.kind or {d.type.kind, f.type.kind} == {"int32", "int64"}, f.name
            assert {x.op: x.param for x in d.filters} == {x.op: x.param for x in f.filters}, (entity.name, f.name)


def test_draft_pushdown_matches_the_demo_catalog(draft):
    demo = load_catalog(catalog_path())
    for entity in demo.entities:
        d = draft.entity(entity.name)
        assert (d.get_path, d.ids_param, d.ids_max, d.projection_param, d.incremental_field, d.primary_key) == (
            entity.get_path, entity.ids_param, entity.ids_max, entity.projection_param, entity.incremental_field,
            entity.primary_key,
        )
        assert set(d.sort.options) == set(entity.sort.options)
        assert d.sort.default == entity.sort.default
    assert draft.pagination.style == "cursor"
    assert (draft.pagination.cursor_param, draft.pagination.cursor_path) == ("cursor", "next_cursor")
    assert draft.pagination.max_page_size == demo.pagination.max_page_size
    assert draft.records_path == "data"
    assert draft.auth.type == "bearer" and draft.auth.token_url == "/oauth/token"
    assert draft.entity("predictions").writes == demo.entity("predictions").writes


def test_draft_base_url_is_the_documents_origin(draft, reference_api):
    assert draft.base_url == reference_api.url.rstrip("/")


@pytest.mark.parametrize("tenant", sorted(TENANT_KEYS))
def test_draft_reads_every_entity_unedited(draft, reference_api, tenant):
    """Row count and ids read through the draft equal the API's own database."""
    from demo_saas import dump_records
    from saasbridge.client.client import SaasClient
    from saasbridge.client.credentials import Credentials

    client = SaasClient(draft, Credentials({"apiKey": TENANT_KEYS[tenant]}))
    for entity in draft.entities:
        truth = dump_records(reference_api.db_path, tenant, entity.name)
        got = []
        for page in client.list_pages(entity, {}, page_size=draft.pagination.max_page_size):
            got.extend(page.records)
        assert len(got) == len(truth), entity.name
        assert sorted(r["id"] for r in got) == [r["id"] for r in truth], entity.name
        if truth:
            assert got[0] == truth[0], entity.name  # the records themselves, not only their ids


def test_draft_pushdown_filters_work_against_the_api(draft, reference_api):
    """Every drafted eq filter, sent as drafted, returns exactly the rows with that value."""
    from demo_saas import dump_records
    from saasbridge.client.client import SaasClient
    from saasbridge.client.credentials import Credentials

    client = SaasClient(draft, Credentials({"apiKey": TENANT_KEYS["acme"]}))
    for entity in draft.entities:
        truth = dump_records(reference_api.db_path, "acme", entity.name)
        for f in entity.fields:
            flt = f.filter_for("eq")
            if flt is None or not truth:
                continue
            value = next(r[f.api_name] for r in truth if r[f.api_name] is not None)
            text = str(value).lower() if flt.format == "bool_lower" else str(value)
            got = [r for p in client.list_pages(entity, {flt.param: text}, page_size=1000) for r in p.records]
            expected = [r["id"] for r in truth if r[f.api_name] == value]
            assert sorted(r["id"] for r in got) == expected, (entity.name, f.name)


def test_load_openapi_from_file_and_errors(tmp_path, reference_openapi):
    path = tmp_path / "api.json"
    path.write_text(json.dumps(reference_openapi))
    assert load_openapi(str(path)) == reference_openapi
    with pytest.raises(CatalogError, match="cannot read"):
        load_openapi(str(tmp_path / "missing.json"))
    (tmp_path / "swagger.json").write_text(json.dumps({"swagger": "2.0", "paths": {}}))
    with pytest.raises(CatalogError, match="not an OpenAPI 3 document"):
        load_openapi(str(tmp_path / "swagger.json"))


# --------------------------------------------------------------------------- mapping rules on small documents


def _doc(list_response: dict, params: list[dict] | None = None, **extra) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Tiny Shop API"},
        "servers": [{"url": "https://api.shop.example/v2"}],
        "paths": {
            "/orders": {
                "get": {
                    "parameters": params or [],
                    "responses": {"200": {"content": {"application/json": {"schema": list_response}}}},
                }
            },
            **extra.pop("paths", {}),
        },
        "components": {"schemas": {"Order": ORDER, **extra.pop("schemas", {})}},
        **extra,
    }


ORDER = {
    "type": "object",
    "required": ["orderId", "createdAt", "total"],
    "properties": {
        "orderId": {"type": "integer", "format": "int32"},
        "createdAt": {"type": "string", "format": "date-time"},
        "total": {"type": "number", "multipleOf": 0.01},
        "ratio": {"type": "number", "nullable": True},
        "fee": {"type": "number", "format": "decimal", "x-decimal-places": 3},
        "paid": {"type": "boolean"},
        "shipDate": {"type": "string", "format": "date"},
        "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
        "meta": {"type": "object", "additionalProperties": {"type": "integer"}},
        "status": {"type": "string", "enum": ["open", "closed"]},
    },
}


def q(name: str, schema: dict | None = None, description: str = "") -> dict:
    return {"name": name, "in": "query", "schema": schema or {"type": "string"}, "description": description}


def test_types_nullability_and_names_from_schemas():
    draft = draft_catalog(_doc({"type": "array", "items": {"$ref": "#/components/schemas/Order"}}))
    catalog = catalog_from_dict(draft, env={})
    e = catalog.entity("orders")
    types = {f.name: (str(f.type.kind), f.nullable, f.api_name) for f in e.fields}
    assert types["order_id"] == ("int32", False, "orderId")
    assert types["created_at"] == ("timestamp", False, "createdAt")
    assert types["total"][0] == "decimal" and e.field("total").type.scale == 2
    assert types["ratio"] == ("double", True, "ratio")
    assert (e.field("fee").type.kind, e.field("fee").type.scale) == ("decimal", 3)
    assert types["ship_date"][0] == "date"
    assert e.field("lines").type.kind == "list" and e.field("lines").type.item.kind == "struct"
    assert e.field("meta").type.kind == "map" and e.field("meta").type.item.kind == "int64"
    assert catalog.records_path == ""  # a top-level array
    assert catalog.pagination.style == "single"
    assert e.primary_key is None  # no `id` column: the draft does not guess
    assert catalog.base_url == "https://api.shop.example/v2"
    assert catalog.name == "tiny_shop_api"


@pytest.mark.parametrize(
    "params, props, expected_style, checks",
    [
        ([q("limit", {"type": "integer", "maximum": 200}), q("offset", {"type": "integer"})],
         {"total": {"type": "integer"}}, "offset", {"total_path": "total", "max_page_size": 200}),
        ([q("page"), q("per_page", {"type": "integer", "default": 25, "maximum": 50})],
         {"has_more": {"type": "boolean"}}, "page_number", {"has_more_path": "has_more", "default_page_size": 25}),
        ([q("limit")], {"next": {"type": "string"}}, "next_url", {"next_url_path": "next"}),
        ([q("page_token")], {"next_page_token": {"type": "string"}}, "cursor",
         {"cursor_param": "page_token", "cursor_path": "next_page_token"}),
    ],
)
def test_pagination_styles(params, props, expected_style, checks):
    page = {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
                                             **props}}
    catalog = catalog_from_dict(draft_catalog(_doc(page, params)), env={})
    assert catalog.pagination.style == expected_style
    assert catalog.records_path == "items"
    for key, value in checks.items():
        assert getattr(catalog.pagination, key) == value


def test_query_parameters_become_pushdown():
    order = {**ORDER, "properties": {"id": {"type": "string"}, **ORDER["properties"]}, "required": ["id", "createdAt"]}
    params = [
        q("status"), q("paid", {"type": "boolean"}), q("created_since", {"type": "string", "format": "date-time"}),
        q("created_before"), q("ids", description="Up to 25 ids, comma-separated"), q("fields"),
        q("sort", {"type": "string", "enum": ["createdAt", "-createdAt", "unknownThing"]}), q("q"),
    ]
    doc = _doc({"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}}}},
               params, schemas={"Order": order})
    e = catalog_from_dict(draft_catalog(doc), env={}).entity("orders")
    assert e.field("status").filter_for("eq").param == "status"
    assert e.field("paid").filter_for("eq").format == "bool_lower"
    created = e.field("created_at")
    assert (created.filter_for("ge").param, created.filter_for("lt").param) == ("created_since", "created_before")
    assert (e.ids_param, e.ids_max, e.projection_param) == ("ids", 25, "fields")
    assert set(e.sort.options) == {("created_at", False, "createdAt"), ("created_at", True, "-createdAt")}
    assert e.sort.default is None
    assert e.incremental_field == "created_at"
    assert all(not f.filters for f in e.fields if f.name not in ("status", "paid", "created_at"))


@pytest.mark.parametrize(
    "schemes, security, expected",
    [
        ({"k": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}, [{"k": []}], ("api_key", "X-Api-Key", None)),
        ({"k": {"type": "apiKey", "in": "query", "name": "key"}}, [], ("api_key", "Authorization", "key")),
        ({"b": {"type": "http", "scheme": "basic"}}, [{"b": []}], ("basic", "Authorization", None)),
        ({"o": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://auth.example/token"}}}},
         [{"o": []}], ("oauth2_client_credentials", "Authorization", None)),
        ({}, [], ("none", "Authorization", None)),
    ],
)
def test_security_schemes_become_auth(schemes, security, expected):
    doc = _doc({"type": "array", "items": {"$ref": "#/components/schemas/Order"}}, security=security)
    doc["components"]["securitySchemes"] = schemes
    auth = catalog_from_dict(draft_catalog(doc), env={}).auth
    assert (auth.type, auth.header, auth.query_param) == expected


def test_a_document_without_list_endpoints_is_a_clear_error():
    doc = {"openapi": "3.1.0", "info": {"title": "x"}, "paths": {"/health": {"get": {"responses": {"200": {}}}}}}
    with pytest.raises(CatalogError, match="no list endpoint"):
        draft_catalog(doc)


@pytest.mark.parametrize(
    "raw, snake",
    [("postalCode", "postal_code"), ("Annual Revenue", "annual_revenue"), ("ID", "id"), ("x-request-id", "x_request_id"),
     ("2fa", "c_2fa"), ("SaaS API", "saas_api")],
)
def test_snake_case(raw, snake):
    assert snake_case(raw) == snake


# --------------------------------------------------------------------------- published documents (tests/fixtures/openapi)

SPECS = Path(__file__).parent / "fixtures" / "openapi"
HUBSPOT = SPECS / "hubspot-like-contacts.json"
ASANA = SPECS / "asana-tasks.json"
STRIPE = SPECS / "stripe-spec3-2022-04-12.json.gz"
GITHUB = SPECS / "github-issues.json"


def stripe_spec() -> dict:
    return json.loads(gzip.decompress(STRIPE.read_bytes()))


def drafted(doc: dict, source: str) -> tuple[str, dict]:
    """The draft's YAML text and the mapping it loads as."""
    text = draft_catalog_yaml(doc, source=source)
    return text, yaml.safe_load(text)


def line_of(text: str, key_value: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(key_value))


def test_hubspot_draft_takes_oauth_and_the_after_cursor_not_the_query_key_or_link_headers():
    text, draft = drafted(load_openapi(str(HUBSPOT)), "hubspot-like-contacts.json")
    assert draft["auth"]["type"] == "oauth2_authorization_code"
    assert draft["auth"]["token_url"] == "https://api.hubapi.com/oauth/v1/token"
    alternatives = text.split("\nauth:", 1)[0]
    assert '# {"type": "api_key", "query_param": "hapikey"}' in alternatives.replace("#   ", "# ")
    assert draft["pagination"] == {"style": "cursor", "cursor_param": "after", "cursor_path": "paging.next.after",
                                   "limit_param": "limit", "max_page_size": 100, "default_page_size": 10}
    assert "# guess:" in line_of(text, "cursor_path:") and "# guess:" in line_of(text, "max_page_size:")
    assert draft["records_path"] == "results"
    (contacts,) = draft["entities"]
    assert "projection_param" not in contacts  # ?properties names entries of the properties map, not columns
    catalog = load_catalog_text(text, source="hubspot.yaml", env={})
    assert catalog.entity("contacts").primary_key == "id"


def test_hubspot_draft_has_the_search_body_and_the_batch_endpoints():
    text, draft = drafted(load_openapi(str(HUBSPOT)), "hubspot-like-contacts.json")
    (contacts,) = draft["entities"]
    search = contacts["search"]
    assert (search["path"], search["method"]) == ("/crm/v3/objects/contacts/search", "POST")
    flt = search["filter"]
    assert (flt["at"], flt["shape"], flt["and"]) == ("filterGroups", "groups", {"filters": "{items}"})
    assert (flt["max_groups"], flt["max_per_group"]) == (5, 10)  # "up to 5", "up to 10" in the descriptions
    assert flt["condition"] == {"propertyName": "{field}", "operator": "{op}", "value": "{value}"}
    assert flt["operators"] == {"between": "BETWEEN", "eq": "EQ", "gt": "GT", "ge": "GTE",
                                "not_null": "HAS_PROPERTY", "in": "IN", "lt": "LT", "le": "LTE", "ne": "NEQ",
                                "not_in": "NOT_IN", "is_null": "NOT_HAS_PROPERTY"}
    assert flt["conditions"]["between"] == {"propertyName": "{field}", "operator": "{op}", "value": "{low}",
                                            "highValue": "{high}"}
    assert flt["conditions"]["in"] == {"propertyName": "{field}", "operator": "{op}", "values": "{values}"}
    paging = search["pagination"]
    assert (paging["cursor_param"], paging["cursor_path"], paging["max_page_size"], paging["total_path"]) == (
        "after", "paging.next.after", 200, "total")  # "up to 200 objects" in the body's description
    assert (search["projection"], search["strip_prefix"], search["filterable"]) == ("properties", "properties.", [])
    assert "# guess:" in line_of(text, "filterable:")
    writes = {w["op"]: w for w in contacts["writes"]}
    assert {op: w["path"].rsplit("/", 1)[-1] for op, w in writes.items()} == {
        "insert": "create", "update": "update", "upsert": "upsert", "delete": "archive"}
    assert all(w["body_key"] == "inputs" and w["batch_size"] == 100 for w in writes.values())
    assert (writes["update"]["item_key"], writes["update"]["id_key"]) == ("properties", "id")
    assert writes["insert"]["error_ref_path"] == "context.objectWriteTraceId"
    assert contacts["batch_read"] == {"path": "/crm/v3/objects/contacts/batch/read", "method": "POST",
                                      "ids_at": "inputs", "id_item": {"id": "{id}"}, "projection": "properties",
                                      "records_path": "results", "max_ids": 100}
    # neither the search nor a batch path is an entity of its own
    assert [e["name"] for e in draft["entities"]] == ["contacts"]


def test_stripe_draft_takes_bearer_the_last_id_and_the_page_size_the_description_gives():
    text, draft = drafted(stripe_spec(), "stripe-spec3.json")
    assert draft["auth"] == {"type": "bearer"}
    assert '"type": "basic"' in text.split("\nauth:", 1)[0]  # the alternative, commented
    paging = draft["pagination"]
    assert (paging["limit_param"], paging["max_page_size"], paging["default_page_size"]) == ("limit", 100, 10)
    assert paging == {**paging, "style": "last_id", "cursor_param": "starting_after", "id_path": "id",
                      "has_more_path": "has_more"}
    customers = next(e for e in draft["entities"] if e["path"] == "/v1/customers")
    assert customers["name"] == "customers"
    created = next(f for f in customers["fields"] if f["name"] == "created")
    assert {x["op"]: x["param"] for x in created["filters"]} == {  # the deepObject range `created[gte]=…`
        "gt": "created[gt]", "ge": "created[gte]", "lt": "created[lt]", "le": "created[lte]", "eq": "created"}
    assert "search" not in customers  # OpenAPI does not give the query grammar: a commented suggestion
    block = text.split("\n  - name: customers\n", 1)[1].split("\n    fields:", 1)[0]
    assert "# search endpoint /v1/customers/search takes a query string in ?query" in block
    assert "#     path: /v1/customers/search" in block
    assert not any(e["path"].endswith("/search") for e in draft["entities"])
    names = [e["name"] for e in draft["entities"]]
    assert len(names) == len(set(names))


def test_asana_draft_pairs_the_offset_token_with_next_page_and_keys_on_gid():
    text, draft = drafted(load_openapi(str(ASANA)), "asana-tasks.json")
    assert draft["auth"] == {"type": "bearer"}
    assert draft["pagination"] == {"style": "cursor", "cursor_param": "offset", "cursor_path": "next_page.offset",
                                   "limit_param": "limit", "max_page_size": 100, "default_page_size": 100}
    projects = next(e for e in draft["entities"] if e["name"] == "projects")
    assert (projects["primary_key"], projects["get_path"]) == ("gid", "/projects/{id}")
    assert "# guess:" in line_of(text, "primary_key: gid")
    load_catalog_text(text, source="asana.yaml", env={})


def test_github_draft_follows_the_declared_link_header_and_asks_for_every_state():
    text, draft = drafted(load_openapi(str(GITHUB)), "github-issues.json")
    assert draft["pagination"] == {"style": "link_header", "limit_param": "per_page", "max_page_size": 100,
                                   "default_page_size": 30}  # "(max 100)" in the description
    assert draft["params"] == {"state": "all"}  # the default, open, would hide the closed issues
    assert "would hide the other rows" in line_of(text, "params:")
    (issues,) = draft["entities"]
    assert issues["path"] == "/repos/{owner}/{repo}/issues"
    state = next(f for f in issues["fields"] if f["name"] == "state")
    assert state["filters"] == [{"op": "eq", "param": "state"}]  # a WHERE on state replaces the static `all`
    catalog = load_catalog_text(text, source="github.yaml", env={})
    assert catalog.entity("issues").path_columns == ("owner", "repo")


def test_a_several_mb_document_drafts_in_seconds():
    """Stripe's whole document (4 MB of JSON, 261 paths): drafted, written and loaded."""
    doc = stripe_spec()
    started = time.perf_counter()
    text = draft_catalog_yaml(doc, source="stripe-spec3.json")
    catalog = load_catalog_text(text, source="stripe.yaml", env={})
    elapsed = time.perf_counter() - started
    assert len(catalog.entities) > 90
    assert elapsed < 30, f"{elapsed:.1f} s"  # ~3 s on one core; the margin is for a shared machine


@pytest.mark.parametrize(
    "description, schema, expected",
    [
        ("Limit can range between 1 and 100, and the default is 10.", {"type": "integer"}, (100, 10)),
        ("The number of results, up to 250.", {"type": "integer", "default": 50}, (250, 50)),
        ("", {"type": "integer", "maximum": 500, "default": 20}, (500, 20)),
        ("Page size.", {"type": "integer", "default": 10}, (100, 10)),  # no maximum: the common cap, a guess
        ("Page size.", {"type": "integer", "default": 200}, (200, 200)),
    ],
)
def test_page_size_from_the_schema_or_the_description(description, schema, expected):
    page = {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
                                             "next_cursor": {"type": "string"}}}
    doc = _doc(page, [q("limit", schema, description), q("cursor")])
    text = draft_catalog_yaml(doc, source="x.json")
    catalog = load_catalog_text(text, source="x.yaml", env={})
    assert (catalog.pagination.max_page_size, catalog.pagination.default_page_size) == expected
    assert ("# guess:" in line_of(text, "max_page_size:")) == ("maximum" not in schema and not description.strip(". ")
                                                              .startswith(("Limit", "The number")))


def test_link_header_paging_only_where_the_answer_declares_the_header():
    page = {"type": "array", "items": {"$ref": "#/components/schemas/Order"}}
    undeclared = draft_catalog_yaml(_doc(page, [q("per_page", {"type": "integer"})]), source="x.json")
    assert yaml.safe_load(undeclared)["pagination"]["style"] == "single"
    assert "# guess:" in line_of(undeclared, "pagination:") or "# guess:" in line_of(undeclared, "style:")
    doc = _doc(page, [q("per_page", {"type": "integer"}), q("page", {"type": "integer"})])
    assert draft_catalog(doc)["pagination"]["style"] == "page_number"
    doc["paths"]["/orders"]["get"]["responses"]["200"]["headers"] = {"Link": {"schema": {"type": "string"}}}
    assert draft_catalog(doc)["pagination"]["style"] == "link_header"  # GitHub: declared, so followed


def test_auth_prefers_bearer_and_oauth_over_keys_in_the_query():
    doc = _doc({"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
               security=[{"key": []}, {"basic": []}, {"token": []}])
    doc["components"]["securitySchemes"] = {
        "key": {"type": "apiKey", "in": "query", "name": "api_key"},
        "basic": {"type": "http", "scheme": "basic"},
        "token": {"type": "http", "scheme": "bearer"},
    }
    text = draft_catalog_yaml(doc, source="x.json")
    assert yaml.safe_load(text)["auth"] == {"type": "bearer"}
    head = text.split("\nauth:", 1)[0]
    assert head.index('"type": "basic"') < head.index('"query_param": "api_key"')  # query keys last
    doc["components"]["securitySchemes"]["token"] = {"type": "apiKey", "in": "header", "name": "X-Token",
                                                     "description": "Deprecated: use OAuth"}
    assert draft_catalog(doc)["auth"] == {"type": "basic"}  # a deprecated scheme goes after the others


# --------------------------------------------------------------------------- drafts read the stubs unedited


def _deploy_draft(stack, monkeypatch, tmp_path, text: str, handler, secret: dict):
    path = tmp_path / "draft.yaml"
    path.write_text(text)
    return deploy.deploy(stack, monkeypatch, tmp_path, str(path), handler, secret)


@pytest.fixture
def stack():
    with ExitStack() as s:
        yield s
    reset_connectors()


def test_the_hubspot_draft_reads_the_stubs_contacts_through_both_connectors(aws_env, monkeypatch, tmp_path, stack):
    from tests.saas_stubs.hubspot import TOKEN, HubSpot

    api = HubSpot(230)
    text = draft_catalog_yaml(load_openapi(str(HUBSPOT)), source=str(HUBSPOT))
    d = _deploy_draft(stack, monkeypatch, tmp_path, text, api, {"accessToken": TOKEN})
    truth = {i: api.record(i, None) for i in api.ordered_ids()}
    table = scan("contacts", schema_name=d.schema)
    rows = table.to_pylist()
    assert sorted(r["id"] for r in rows) == sorted(truth)
    created = table.column("created_at").cast(pa.int64()).to_pylist()  # Athena's DATEMILLI: epoch ms
    for row, ms in zip(rows, created, strict=True):
        want = truth[row["id"]]
        assert dict(row["properties"]) == want["properties"]
        assert ms == int(_parse_ts(want["createdAt"]).timestamp() * 1000)
        assert row["archived"] is want["archived"]
    assert {r.query.get("limit") for r in d.taken()} == {"100"}  # pages of 100, not the default 10
    records = d.appflow("contacts")
    assert sorted(r["id"] for r in records) == sorted(truth)
    assert all(r["archived"] is False for r in records)


def test_the_hubspot_drafts_batch_writes_and_get_path_work_on_the_stub_unedited():
    """Insert, update, upsert and delete as drafted (one batch request each), and the drafted
    item path, against the stub's own state."""
    from saasbridge.client.client import SaasClient
    from saasbridge.client.credentials import Credentials
    from saasbridge.local.httpstub import StubServer
    from tests.saas_stubs.hubspot import TOKEN, HubSpot

    api = HubSpot(10)
    text = draft_catalog_yaml(load_openapi(str(HUBSPOT)), source=str(HUBSPOT))
    with StubServer(api) as server:
        catalog = load_catalog_text(text, source="draft.yaml", env={"SAASBRIDGE_API_URL": server.url})
        client = SaasClient(catalog, Credentials({"accessToken": TOKEN}))
        contacts = catalog.entity("contacts")
        inserted = client.write(contacts, "insert", [{"email": "a@new.example"}, {"email": "b@new.example"}])
        assert all(r.ok for r in inserted)
        assert [api.contacts[r.id]["email"] for r in inserted] == ["a@new.example", "b@new.example"]
        assert [r.ok for r in client.write(contacts, "update", [{"id": "3", "lastname": "Moved"}])] == [True]
        assert api.contacts["3"]["lastname"] == "Moved"
        upserted = client.write(contacts, "upsert", [{"id": "4", "lastname": "Up"}, {"id": "77", "lastname": "New"}])
        assert [(r.ok, r.id) for r in upserted] == [(True, "4"), (False, "77")]  # by id: only existing contacts
        assert api.contacts["4"]["lastname"] == "Up"  # (the draft marks how errors name items as a guess)
        assert all(r.ok for r in client.write(contacts, "delete", [{"id": "5"}, {"id": "6"}]))
        assert "5" not in api.contacts and "6" not in api.contacts
        assert [r.path.rsplit("/", 1)[1] for r in server.requests] == ["create", "update", "upsert", "archive"]
        got = client.request("GET", contacts.get_path.replace("{id}", "7")).json()
        assert got == api.record("7", None)


def test_the_stripe_draft_reads_the_stubs_customers_through_both_connectors(aws_env, monkeypatch, tmp_path, stack):
    from tests.saas_stubs.stripe import API_KEY, Stripe

    api = Stripe(230)
    text = draft_catalog_yaml(stripe_spec(), source="stripe-spec3.json")
    d = _deploy_draft(stack, monkeypatch, tmp_path, text, api, {"apiKey": API_KEY})
    columns = ["id", "object", "email", "name", "created", "balance", "currency", "delinquent"]
    rows = d.athena("customers", columns=columns)
    assert sorted((r["id"], r["email"], r["created"]) for r in rows) == sorted(
        (c["id"], c["email"], c["created"]) for c in api.customers)
    assert [{k: r[k] for k in columns} for r in sorted(rows, key=lambda r: r["id"])] == [
        {k: c[k] for k in columns} for c in sorted(api.customers, key=lambda c: c["id"])]
    assert len(d.taken()) == 3  # 230 customers in pages of 100, by the last id
    records = d.appflow("customers", fields=columns)
    assert sorted(r["id"] for r in records) == sorted(c["id"] for c in api.customers)
    d.taken()
    email = api.customers[17]["email"]
    records = d.appflow("customers", expression=f"email = '{email}'", fields=columns)
    assert [r["id"] for r in records] == [c["id"] for c in api.customers if c["email"] == email]
    assert [r.query.get("email") for r in d.taken()] == [email]  # the drafted filter, pushed to the list
    low, high = sorted(c["created"] for c in api.customers)[40], sorted(c["created"] for c in api.customers)[90]
    records = d.appflow("customers", expression=f"created >= {low} and created < {high}", fields=["id"])
    assert sorted(r["id"] for r in records) == sorted(c["id"] for c in api.customers if low <= c["created"] < high)
    assert [(r.query.get("created[gte]"), r.query.get("created[lt]")) for r in d.taken()] == [(str(low), str(high))]


def _parse_ts(text: str):
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
