"""`from-openapi`: drafts from the real reference API's /openapi.json read every entity unedited,
and the mapping rules hold on small hand-written documents."""

from __future__ import annotations

import json

import pytest

from saasbridge.catalog import catalog_from_dict, load_catalog, load_catalog_text
from saasbridge.catalog.openapi import draft_catalog, draft_catalog_yaml, load_openapi, snake_case
from saasbridge.errors import CatalogError
from saasbridge.runtime import catalog_path

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
