"""Catalog loading: the demo catalog, one-line errors for each kind of mistake, type strings,
`${ENV}` substitution and the JSON Schema shipped in the package."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from saasbridge.catalog import (
    FieldType,
    catalog_from_dict,
    catalog_schema,
    format_type,
    load_catalog,
    load_catalog_text,
    parse_type,
)
from saasbridge.catalog.loader import clear_cache
from saasbridge.errors import CatalogError
from saasbridge.runtime import catalog_path, default_catalog_path

DEMO = default_catalog_path()


def demo_doc() -> dict:
    return yaml.safe_load(DEMO.read_text())


def entity_index(doc: dict, name: str) -> int:
    return next(i for i, e in enumerate(doc["entities"]) if e["name"] == name)


def field_index(doc: dict, entity: str, column: str) -> int:
    e = doc["entities"][entity_index(doc, entity)]
    return next(i for i, f in enumerate(e["fields"]) if f["name"] == column)


def field_of(doc: dict, entity: str, column: str) -> dict:
    e = doc["entities"][entity_index(doc, entity)]
    return e["fields"][field_index(doc, entity, column)]


# --------------------------------------------------------------------------- the demo catalog


def test_demo_catalog_loads_with_every_entity_of_the_reference_api():
    from demo_saas.entities import ENTITIES

    catalog = load_catalog(DEMO)
    assert catalog.name == "crm"
    assert [e.name for e in catalog.entities] == list(ENTITIES)
    assert catalog.source_file == str(DEMO)


def test_demo_catalog_matches_the_reference_api_definition():
    """Columns, nullability, filters and sorts agree with demo_saas's own entity table."""
    from demo_saas.entities import ENTITIES

    catalog = load_catalog(DEMO)
    for spec in ENTITIES.values():
        entity = catalog.entity(spec.name)
        top_level = {f.api_name.split(".")[0] for f in entity.fields}
        assert top_level == set(spec.field_names), spec.name
        for fs in spec.fields:
            assert entity.field(fs.name).nullable == fs.nullable, (spec.name, fs.name)
        pushed_eq = {f.name for f in entity.fields if f.filter_for("eq")}
        assert pushed_eq == set(spec.equality_filters), spec.name
        since, until = spec.time_params
        time_field = entity.field(spec.time_field)
        assert time_field.filter_for("ge").param == since
        assert time_field.filter_for("lt").param == until
        assert entity.sort is not None
        assert {v for _, _, v in entity.sort.options} == set(spec.sorts)
        assert entity.incremental_field == spec.time_field
        assert entity.writable == spec.writable


def test_demo_catalog_nested_columns_follow_the_struct():
    accounts = load_catalog(DEMO).entity("accounts")
    address = accounts.field("address").type
    assert address.kind == "struct"
    for member, _ in address.fields:
        assert accounts.field(f"address_{member}").api_name == f"address.{member}"


def test_demo_catalog_non_nullable_fields_are_never_null_in_generated_data():
    from demo_saas.data import generate

    catalog = load_catalog(DEMO)
    for entity in catalog.entities:
        records = list(generate(entity.name, tenant="acme", seed=7, scale=0.02))
        for f in entity.fields:
            if f.nullable or "." in f.api_name:
                continue
            assert all(r.get(f.api_name) is not None for r in records), (entity.name, f.name)


def test_base_url_comes_from_the_environment():
    clear_cache()
    assert load_catalog(DEMO, env={}).base_url == "http://127.0.0.1:8080"
    assert load_catalog(DEMO, env={"SAASBRIDGE_API_URL": "http://127.0.0.1:9999/"}).base_url == "http://127.0.0.1:9999"
    # the cache must not hand back the catalog built for other environment values
    assert load_catalog(DEMO, env={}).base_url == "http://127.0.0.1:8080"


def test_the_served_catalog_is_the_env_one_or_the_bundled_one(tmp_path, monkeypatch):
    monkeypatch.delenv("SAASBRIDGE_CATALOG", raising=False)
    assert load_catalog(catalog_path()).source_file == str(DEMO)
    doc = demo_doc()
    doc["name"] = "other"
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("SAASBRIDGE_CATALOG", str(path))
    assert load_catalog(catalog_path()).name == "other"


def test_cache_notices_a_changed_file(tmp_path):
    doc = demo_doc()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    first = load_catalog(path)
    assert load_catalog(path) is first
    doc["name"] = "changed_name"
    path.write_text(yaml.safe_dump(doc))
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10_000_000))
    assert load_catalog(path).name == "changed_name"


def test_missing_file_is_one_clear_line(tmp_path):
    with pytest.raises(CatalogError) as exc:
        load_catalog(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(exc.value) and "\n" not in str(exc.value)


# --------------------------------------------------------------------------- one-line errors


def _set(path, value):
    def mutate(doc):
        node = doc
        for part in path[:-1]:
            node = node[part] if not callable(part) else part(doc)
        node[path[-1]] = value

    return mutate


def _fix(entity, column, key, value):
    def mutate(doc):
        field_of(doc, entity, column)[key] = value

    return mutate


def _ent(entity, key, value):
    def mutate(doc):
        doc["entities"][entity_index(doc, entity)][key] = value

    return mutate


def _del(*path):
    def mutate(doc):
        node = doc
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return mutate


def _dup_entity(doc):
    doc["entities"].append(copy.deepcopy(doc["entities"][0]))


def _dup_column(doc):
    doc["entities"][0]["fields"].append(copy.deepcopy(doc["entities"][0]["fields"][1]))


def _dup_filter(doc):
    f = field_of(doc, "accounts", "country")
    f["filters"] = f["filters"] + f["filters"]


def _add_filter(entity, column, flt):
    def mutate(doc):
        field_of(doc, entity, column)["filters"] = [flt]

    return mutate


def _write(op_index, key, value):
    def mutate(doc):
        doc["entities"][entity_index(doc, "predictions")]["writes"][op_index][key] = value

    return mutate


# (mutation, path inside the file, words the message must contain)
BROKEN = {
    "unknown type": (
        _fix("accounts", "name", "type", "strng"),
        lambda d: f"entities[0].fields[{field_index(d, 'accounts', 'name')}].type",
        ["unknown type 'strng'", "use one of string, int32"],
    ),
    "bad decimal": (
        _fix("deals", "amount", "type", "decimal(40,2)"),
        lambda d: f"entities[2].fields[{field_index(d, 'deals', 'amount')}].type",
        ["out of range", "precision <= 38"],
    ),
    "unclosed list": (
        _fix("accounts", "tags", "type", "list<string"),
        lambda d: f"entities[0].fields[{field_index(d, 'accounts', 'tags')}].type",
        ["missing '>'"],
    ),
    "misspelt key": (
        _ent("accounts", "primray_key", "id"),
        lambda d: "entities[0]",
        ["unknown key 'primray_key'", "did you mean 'primary_key'"],
    ),
    "missing top-level key": (_del("name"), lambda d: "(top level)", ["missing required key 'name'"]),
    "missing fields": (_del("entities", 1, "fields"), lambda d: "entities[1]", ["missing required key 'fields'"]),
    "camel case column": (
        _fix("contacts", "account_id", "name", "accountId"),
        lambda d: f"entities[1].fields[{field_index(d, 'contacts', 'account_id')}].name",
        ["not lower-case snake_case", "'account_id'"],
    ),
    "upper case entity": (_ent("deals", "name", "Deals"), lambda d: "entities[2].name", ["snake_case", "'deals'"]),
    "duplicate entity": (_dup_entity, lambda d: f"entities[{len(d['entities'])}].name", ["duplicate entity name 'accounts'"]),
    "duplicate column": (_dup_column, lambda d: f"entities[0].fields[{len(d['entities'][0]['fields'])}].name",
                         ["duplicate column name"]),
    "unknown primary key": (
        _ent("accounts", "primary_key", "account_key"),
        lambda d: "entities[0].primary_key",
        ["'account_key' is not a column of accounts"],
    ),
    "nullable primary key": (
        _fix("deals", "id", "nullable", True),
        lambda d: "entities[2].primary_key",
        ["nullable: false"],
    ),
    "incremental on a string": (
        _ent("contacts", "incremental_field", "email"),
        lambda d: "entities[1].incremental_field",
        ["email", "use a timestamp, date or integer column"],
    ),
    "incremental typo": (
        _ent("contacts", "incremental_field", "updatedat"),
        lambda d: "entities[1].incremental_field",
        ["did you mean 'updated_at'"],
    ),
    "split on nullable column": (
        _set(("entities", 2, "split", "field"), "close_date"),
        lambda d: "entities[2].split.field",
        ["non-nullable timestamp or date", "nullable"],
    ),
    "split unknown column": (
        _set(("entities", 3, "split", "field"), "happened_at"),
        lambda d: "entities[3].split.field",
        ["'happened_at' is not a column of events"],
    ),
    "split bad date": (
        _set(("entities", 3, "split", "start"), "last year"),
        lambda d: "entities[3].split.start",
        ["not an ISO date"],
    ),
    "split end before start": (
        _set(("entities", 3, "split", "end"), "2021-01-01"),
        lambda d: "entities[3].split.end",
        ["end must be after start"],
    ),
    "range op on boolean": (
        _add_filter("accounts", "is_active", {"op": "gt", "param": "active_gt"}),
        lambda d: f"entities[0].fields[{field_index(d, 'accounts', 'is_active')}].filters[0].op",
        ["'gt' needs an ordered type", "boolean"],
    ),
    "contains on integer": (
        _add_filter("accounts", "employees", {"op": "contains", "param": "q"}),
        lambda d: f"entities[0].fields[{field_index(d, 'accounts', 'employees')}].filters[0].op",
        ["'contains' needs a string column"],
    ),
    "filter on a list": (
        _add_filter("accounts", "tags", {"op": "eq", "param": "tag"}),
        lambda d: f"entities[0].fields[{field_index(d, 'accounts', 'tags')}].filters[0].op",
        ["list<string>", "scalar"],
    ),
    "bool format on string": (
        _add_filter("accounts", "country", {"op": "eq", "param": "country", "format": "bool_lower"}),
        lambda d: f"entities[0].fields[{field_index(d, 'accounts', 'country')}].filters[0].format",
        ["'bool_lower' does not fit country", "use string"],
    ),
    "epoch format on number": (
        _add_filter("contacts", "lead_score", {"op": "ge", "param": "min_score", "format": "epoch_ms"}),
        lambda d: f"entities[1].fields[{field_index(d, 'contacts', 'lead_score')}].filters[0].format",
        ["use string or number"],
    ),
    "unknown operator": (
        _add_filter("accounts", "country", {"op": "equals", "param": "country"}),
        lambda d: f"entities[0].fields[{field_index(d, 'accounts', 'country')}].filters[0].op",
        ["'equals' is not allowed", "use one of eq, ne"],
    ),
    "unknown placeholder in param": (
        _add_filter("accounts", "country", {"op": "eq", "param": "filter[{operator}]"}),
        lambda d: f"entities[0].fields[{field_index(d, 'accounts', 'country')}].filters[0].param",
        ["unknown placeholder {operator}", "only {op}"],
    ),
    "max_values on eq": (
        _add_filter("accounts", "country", {"op": "eq", "param": "country", "max_values": 5}),
        lambda d: f"entities[0].fields[{field_index(d, 'accounts', 'country')}].filters[0].max_values",
        ["only to op 'in'"],
    ),
    "duplicate filter": (
        _dup_filter,
        lambda d: f"entities[0].fields[{field_index(d, 'accounts', 'country')}].filters[1].op",
        ["listed twice"],
    ),
    "pagination style typo": (
        _set(("pagination", "style"), "cursr"),
        lambda d: "pagination.style",
        ["'cursr' is not allowed", "did you mean 'cursor'"],
    ),
    "page size above max": (
        _set(("pagination", "default_page_size"), 5000),
        lambda d: "pagination.default_page_size",
        ["exceeds max_page_size"],
    ),
    "not a url": (_set(("base_url",), "api.example.com"), lambda d: "base_url", ["not an http(s) URL"]),
    "relative path without slash": (_ent("events", "path", "v1/events"), lambda d: "entities[3].path",
                                    ["must start with '/'"]),
    "placeholder in list path": (_ent("events", "path", "/v1/{tenant}/events"), lambda d: "entities[3].path",
                                 ["placeholder 'tenant' is not a column of events"]),
    "get path without id": (_ent("deals", "get_path", "/v1/deals/one"), lambda d: "entities[2].get_path", ["has no {id}"]),
    "wrong value type": (_ent("deals", "ids_max", "many"), lambda d: "entities[2].ids_max", ["expected an integer"]),
    "zero rate": (_set(("rate_limit", "requests_per_second"), 0), lambda d: "rate_limit.requests_per_second",
                  ["out of range", "> 0"]),
    "oauth2 without token url": (
        _set(("auth",), {"type": "oauth2_client_credentials"}),
        lambda d: "auth.token_url",
        ["needs token_url"],
    ),
    "auth type typo": (_set(("auth",), {"type": "apikey"}), lambda d: "auth.type", ["did you mean 'api_key'"]),
    "sort on unknown column": (
        _ent("deals", "sort", {"options": [{"column": "closing", "value": "close"}]}),
        lambda d: "entities[2].sort.options[0].column",
        ["'closing' is not a column of deals"],
    ),
    "batch write with id": (_write(0, "path", "/v1/predictions/{id}"), lambda d: "entities[4].writes[0].batch_size",
                            ["set batch_size: 1"]),
    "delete without id": (_write(3, "path", "/v1/predictions"), lambda d: "entities[4].writes[3].path", ["needs {id}"]),
    "write method typo": (_write(1, "method", "PATCHH"), lambda d: "entities[4].writes[1].method",
                          ["did you mean 'PATCH'"]),
    "duplicate write op": (_write(2, "op", "update"), lambda d: "entities[4].writes[2].op", ["appears twice"]),
    "empty entities": (_set(("entities",), []), lambda d: "entities", ["the list is empty"]),
    "unset variable": (_set(("base_url",), "${NO_SUCH_SAASBRIDGE_VAR}/api"), lambda d: "base_url",
                       ["environment variable NO_SUCH_SAASBRIDGE_VAR is not set"]),
    # issue 13 shapes
    "placeholder on a list column": (_ent("accounts", "path", "/v1/tags/{tags}/accounts"),
                                     lambda d: "entities[0].path", ["needs a scalar column 'tags'"]),
    "parent without placeholder": (_ent("contacts", "parent", {"entity": "accounts"}),
                                   lambda d: "entities[1].parent", ["parent applies to a path with placeholders"]),
    "parent unknown": (lambda d: (_ent("contacts", "path", "/v1/accounts/{account_id}/contacts")(d),
                                  _ent("contacts", "parent", {"entity": "acounts"})(d)),
                       lambda d: "entities[1].parent.entity", ["'acounts' is not another entity", "accounts"]),
    "parent key not a placeholder": (
        lambda d: (_ent("contacts", "path", "/v1/accounts/{account_id}/contacts")(d),
                   _ent("contacts", "parent", {"entity": "accounts", "keys": {"account_id": "id", "owner": "id"}})(d)),
        lambda d: "entities[1].parent.keys.owner", ["'owner' is not a placeholder"]),
    "parent key not a parent column": (
        lambda d: (_ent("contacts", "path", "/v1/accounts/{account_id}/contacts")(d),
                   _ent("contacts", "parent", {"entity": "accounts", "keys": {"account_id": "uuid"}})(d)),
        lambda d: "entities[1].parent.keys.account_id", ["'uuid' is not a column of accounts"]),
    "header total on cursor paging": (_set(("pagination", "total_header"), "X-Total-Count"),
                                      lambda d: "pagination.total_header", ["offset and page_number", "'cursor'"]),
    "repeat on eq": (_add_filter("accounts", "country", {"op": "eq", "param": "c", "repeat": True}),
                     lambda d: f"entities[0].fields[{field_index(d, 'accounts', 'country')}].filters[0].repeat",
                     ["only to op 'in'"]),
    "sort option without value or params": (
        _ent("deals", "sort", {"options": [{"column": "amount", "param": "sort_desc"}]}),
        lambda d: "entities[2].sort.options[0]", ["needs value", "params"]),
    "authorization code without auth url": (
        _set(("auth",), {"type": "oauth2_authorization_code", "token_url": "https://login.example.com/token"}),
        lambda d: "auth.auth_url", ["needs auth_url"]),
    "authorization code over http": (
        _set(("auth",), {"type": "oauth2_authorization_code", "token_url": "/oauth/token",
                         "auth_url": "http://login.example.com/authorize"}),
        lambda d: "auth.auth_url", ["not an https URL"]),
    "static param not a scalar": (_set(("params",), {"api-version": ["a"]}), lambda d: "params.api-version",
                                  ["expected"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_mistake_yields_a_one_line_error_naming_file_path_and_fix(case, tmp_path):
    mutate, path_of, words = BROKEN[case]
    doc = demo_doc()
    expected_path = path_of(doc)  # indices as in the file before the mistake
    mutate(doc)
    file = tmp_path / "broken.yaml"
    text = yaml.safe_dump(doc, sort_keys=False)
    file.write_text(text)
    with pytest.raises(CatalogError) as exc:
        load_catalog(file, env={})
    message = str(exc.value)
    assert "\n" not in message
    m = re.match(rf"{re.escape(str(file))}:(\d+): (.+?): (.+)$", message)
    assert m, message
    assert m.group(2) == expected_path, message
    for word in words:
        assert word in m.group(3), message
    # the line number points into the file at (or inside) the reported node
    assert 1 <= int(m.group(1)) <= len(text.splitlines())


def test_error_line_number_points_at_the_offending_line(tmp_path):
    text = DEMO.read_text()
    lines = text.splitlines()
    target = next(i for i, line in enumerate(lines) if "{name: lead_score, type: double" in line)
    lines[target] = lines[target].replace("type: double", "type: dubble")
    file = tmp_path / "typo.yaml"
    file.write_text("\n".join(lines) + "\n")
    with pytest.raises(CatalogError, match=rf"typo.yaml:{target + 1}: entities\[1\]\.fields\[\d+\]\.type: unknown type 'dubble'"):
        load_catalog(file)


@pytest.mark.parametrize(
    "text, words",
    [
        ("name: [unclosed", "invalid YAML"),
        ("", "the catalog is empty"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_unreadable_documents(text, words):
    with pytest.raises(CatalogError, match=re.escape(words)):
        load_catalog_text(text, source="x.yaml")


# --------------------------------------------------------------------------- env substitution


def _with_base_url(value: str) -> dict:
    doc = demo_doc()
    doc["base_url"] = value
    return doc


@pytest.mark.parametrize(
    "template, env, expected",
    [
        ("${H}", {"H": "http://h:1"}, "http://h:1"),
        ("${H:-http://d:2}", {}, "http://d:2"),
        ("${H:-http://d:2}", {"H": ""}, "http://d:2"),
        ("${H:-http://d:2}", {"H": "http://set:3"}, "http://set:3"),
        ("http://${HOST}:${PORT:-80}/x", {"HOST": "a.b"}, "http://a.b:80/x"),
        ("http://h/$${literal}", {}, "http://h/${literal}"),
    ],
)
def test_env_substitution(template, env, expected):
    assert catalog_from_dict(_with_base_url(template), env=env).base_url == expected


def test_env_substitution_keeps_numbers_numeric():
    doc = demo_doc()
    doc["rate_limit"]["requests_per_second"] = "${RPS:-25}"
    doc["rate_limit"]["burst"] = "${BURST}"
    catalog = catalog_from_dict(doc, env={"BURST": "7"})
    assert catalog.rate_limit.requests_per_second == 25 and catalog.rate_limit.burst == 7


def test_env_values_are_not_reparsed_as_yaml():
    doc = demo_doc()
    doc["title"] = "${T}"
    assert catalog_from_dict(doc, env={"T": "a: {b: c}"}).title == "a: {b: c}"


def test_unset_variable_names_it_and_the_path():
    doc = demo_doc()
    doc["entities"][0]["path"] = "/v1/${PREFIX}/accounts"
    with pytest.raises(CatalogError, match=r"entities\[0\]\.path: environment variable PREFIX is not set"):
        catalog_from_dict(doc, env={})


# --------------------------------------------------------------------------- types

SPELLED = [
    ("string", FieldType("string")),
    ("INT64", FieldType("int64")),
    (" decimal( 12 , 2 ) ", FieldType("decimal", precision=12, scale=2)),
    ("list<map<string,double>>", FieldType("list", item=FieldType("map", item=FieldType("double")))),
    ("struct<a:int32, b_c:list<date>>",
     FieldType("struct", fields=(("a", FieldType("int32")), ("b_c", FieldType("list", item=FieldType("date")))))),
]


@pytest.mark.parametrize("text, expected", SPELLED)
def test_parse_type(text, expected):
    assert parse_type(text) == expected


@pytest.mark.parametrize(
    "text",
    ["strng", "", "list<>", "list<string", "list<string>>", "map<int32,string>", "map<string>", "decimal(0,0)",
     "decimal(10,11)", "decimal(10)", "struct<>", "struct<a:int32,a:string>", "struct<a int32>", "int32 extra",
     "list<string>$", "struct<1a:string>"],
)
def test_bad_type_strings_are_one_line_errors(text):
    with pytest.raises(CatalogError) as exc:
        parse_type(text)
    assert "\n" not in str(exc.value) and "type" in str(exc.value)


_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_scalars = st.sampled_from(["string", "int32", "int64", "double", "boolean", "date", "timestamp"]).map(FieldType)
_decimals = st.integers(1, 38).flatmap(
    lambda p: st.integers(0, p).map(lambda s: FieldType("decimal", precision=p, scale=s))
)
_types = st.recursive(
    _scalars | _decimals,
    lambda inner: st.one_of(
        inner.map(lambda t: FieldType("list", item=t)),
        inner.map(lambda t: FieldType("map", item=t)),
        st.lists(st.tuples(_names, inner), min_size=1, max_size=4, unique_by=lambda m: m[0]).map(
            lambda ms: FieldType("struct", fields=tuple(ms))
        ),
    ),
    max_leaves=12,
)


@given(_types)
def test_type_strings_round_trip(ft):
    text = format_type(ft)
    assert parse_type(text) == ft
    # whitespace and upper-case kind names are accepted and mean the same
    loose = re.sub(r"([,<(:])", r"\1 ", text)
    loose = re.sub(r"\b(string|int32|int64|double|boolean|date|timestamp|list|map|struct|decimal)\b(?!\s*:)",
                   lambda m: m.group(1).upper(), loose)
    assert parse_type(loose) == ft


# --------------------------------------------------------------------------- the JSON Schema


def test_schema_ships_in_the_package_and_is_valid_2020_12():
    path = Path(__import__("saasbridge.catalog", fromlist=["x"]).__file__).with_name("schema.json")
    schema = json.loads(path.read_text())
    assert schema == catalog_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_accepts_the_demo_catalog_after_substitution():
    doc = demo_doc()
    doc["base_url"] = "http://127.0.0.1:8080"
    doc["auth"]["type"] = "bearer"
    jsonschema.Draft202012Validator(catalog_schema()).validate(doc)


@pytest.mark.parametrize(
    "case", ["misspelt key", "missing top-level key", "camel case column", "pagination style typo", "not a url",
             "wrong value type", "empty entities", "unknown operator", "write method typo"]
)
def test_schema_rejects_broken_catalogs(case):
    doc = demo_doc()
    doc["base_url"] = "http://127.0.0.1:8080"
    doc["auth"]["type"] = "bearer"
    BROKEN[case][0](doc)
    errors = list(jsonschema.Draft202012Validator(catalog_schema()).iter_errors(doc))
    assert errors, case


def test_every_model_attribute_is_a_schema_key():
    """YAML keys = attribute names: the schema must not miss or invent a key."""
    import dataclasses

    from saasbridge.catalog import model

    schema = catalog_schema()
    defs = schema["$defs"]
    pairs = [
        (model.Catalog, schema, {"source_file"}),
        (model.Entity, defs["entity"], set()),
        (model.Field, defs["field"], set()),
        (model.FieldFilter, defs["filter"], set()),
        (model.Pagination, defs["pagination"], set()),
        (model.Auth, defs["auth"], set()),
        (model.Retry, defs["retry"], set()),
        (model.QuotaResponse, defs["quota_response"], set()),
        (model.RateBudget, defs["rate_limit"], set()),
        (model.SplitHint, defs["split"], set()),
        (model.Sort, defs["sort"], set()),
        (model.WriteOperation, defs["write"], set()),
    ]
    for cls, sub, internal in pairs:
        attrs = {f.name for f in dataclasses.fields(cls)} - internal
        assert attrs == set(sub["properties"]), cls.__name__


def test_docs_describe_every_key_of_the_schema():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "catalog.md").read_text()
    schema = catalog_schema()
    keys = set(schema["properties"])
    for sub in schema["$defs"].values():
        keys |= set(sub.get("properties", {}))
    missing = sorted(k for k in keys if f"`{k}`" not in docs and f"`{k}` (required)" not in docs)
    assert not missing, f"docs/catalog.md does not describe: {missing}"


def test_catalog_package_imports_no_local_only_module():
    import subprocess
    import sys

    code = (
        "import sys, saasbridge.catalog as c; from saasbridge.runtime import catalog_path; c.load_catalog(catalog_path()); "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pandas', 'duckdb', 'fastapi', 'uvicorn', 'moto', 'sqlglot', 'rich', 'pydantic', 'demo_saas'}); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
