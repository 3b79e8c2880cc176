"""The reference SaaS API as a real process: auth, tenants, pagination, filters, projection, sorts,
bad input, OpenAPI. Ground truth is `dump_records` (the SQLite file read directly)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import jsonschema
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo_saas import ENTITIES, dump_records
from demo_saas.store import Store

KEYS = {"acme": "demo-acme-key", "globex": "demo-globex-key"}
READ_ENTITIES = ["accounts", "contacts", "deals", "events"]


def get(server, path: str, *, tenant: str = "acme", token: str | None = None, **params) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or KEYS[tenant]}"}
    return requests.get(server.url + path, params=params, headers=headers, timeout=30)


def list_all(server, entity: str, *, tenant: str = "acme", **params) -> list[dict]:
    """Every record of a listing, following next_cursor to the end."""
    records, cursor = [], None
    while True:
        page_params = dict(params, **({"cursor": cursor} if cursor else {}))
        response = get(server, f"/v1/{entity}", tenant=tenant, **page_params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"data", "next_cursor"}
        records.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return records


def ms(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- auth and tenants ------------------------------------------------------------------------------


def test_api_key_auth_and_401_without_or_with_wrong_credentials(reference_api):
    assert get(reference_api, "/v1/accounts", limit=1).status_code == 200
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic ZGVtbzpkZW1v"}):
        response = requests.get(reference_api.url + "/v1/accounts", headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("style", ["form", "basic"])
def test_oauth_client_credentials_token_authenticates_as_its_tenant(reference_api, style):
    form = {"grant_type": "client_credentials"}
    auth = None
    if style == "form":
        form.update(client_id="demo-globex-client", client_secret="demo-globex-secret")
    else:
        auth = ("demo-globex-client", "demo-globex-secret")
    token = requests.post(reference_api.url + "/oauth/token", data=form, auth=auth, timeout=10).json()
    assert token["token_type"] == "bearer" and token["expires_in"] > 0
    via_token = get(reference_api, "/v1/accounts/acc_000001", token=token["access_token"]).json()
    assert via_token == dump_records(reference_api.db_path, "globex", "accounts")[0]


def test_oauth_rejects_wrong_secret_and_grant(reference_api):
    bad_secret = {"grant_type": "client_credentials", "client_id": "demo-acme-client", "client_secret": "x"}
    response = requests.post(reference_api.url + "/oauth/token", data=bad_secret, timeout=10)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_client"
    response = requests.post(reference_api.url + "/oauth/token", data={"grant_type": "password"}, timeout=10)
    assert response.status_code == 400


def test_tenants_see_only_their_own_rows(reference_api):
    acme = list_all(reference_api, "accounts", limit=1000)
    globex = list_all(reference_api, "accounts", tenant="globex", limit=1000)
    assert acme == dump_records(reference_api.db_path, "acme", "accounts")
    assert globex == dump_records(reference_api.db_path, "globex", "accounts")
    assert [r["id"] for r in acme] == [r["id"] for r in globex]  # same ids, different data
    assert sum(a != g for a, g in zip(acme, globex, strict=True)) > len(acme) * 0.9


# -- pagination and reads ------------------------------------------------------------------------


@pytest.mark.parametrize("entity", READ_ENTITIES)
def test_pagination_to_the_end_returns_exactly_the_stored_rows(reference_api, entity):
    truth = dump_records(reference_api.db_path, "acme", entity)
    assert len(truth) == round(ENTITIES[entity].count * 0.1)
    limit = 1000 if entity == "events" else 73  # an odd page size: the last page is partial
    assert list_all(reference_api, entity, limit=limit) == truth


def test_default_page_size_and_get_by_id(reference_api):
    body = get(reference_api, "/v1/contacts").json()
    truth = dump_records(reference_api.db_path, "acme", "contacts")
    assert body["data"] == truth[:100] and body["next_cursor"]
    assert get(reference_api, f"/v1/contacts/{truth[5]['id']}").json() == truth[5]
    missing = get(reference_api, "/v1/contacts/con_999999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("entity", ["accounts", "deals"])
@pytest.mark.parametrize("sort", ["updated_at", "-updated_at"])
def test_time_sorts_order_by_time_then_id(reference_api, entity, sort):
    truth = dump_records(reference_api.db_path, "acme", entity)
    by_time = sorted(truth, key=lambda r: r["id"])
    by_time.sort(key=lambda r: ms(r["updated_at"]), reverse=sort.startswith("-"))  # stable: ties keep id order
    assert list_all(reference_api, entity, sort=sort, limit=37) == by_time
    assert len({r["updated_at"] for r in truth}) < len(truth)  # the data has ties to break


def test_events_sort_by_occurred_at(reference_api):
    truth = dump_records(reference_api.db_path, "acme", "events")
    expected = sorted(truth, key=lambda r: (ms(r["occurred_at"]), r["id"]))
    assert list_all(reference_api, "events", sort="occurred_at", limit=1000) == expected


def test_projection_returns_only_the_requested_fields_plus_id(reference_api):
    truth = dump_records(reference_api.db_path, "acme", "accounts")
    got = list_all(reference_api, "accounts", fields="country,address,is_active", limit=500)
    assert got == [{k: r[k] for k in ("id", "country", "address", "is_active")} for r in truth]


# -- filters against a brute-force filter of the ground truth ---------------------------------------


def _equality_cases() -> list[tuple[str, str, str]]:
    return [
        ("accounts", "country", "DE"), ("accounts", "industry", "retail"), ("accounts", "is_active", "false"),
        ("contacts", "account_id", "acc_000007"), ("deals", "account_id", "acc_000011"),
        ("deals", "stage", "closed_won"), ("events", "type", "meeting"), ("events", "account_id", "acc_000003"),
        ("events", "contact_id", "con_000042"), ("deals", "stage", "no-such-stage"),
    ]


@pytest.mark.parametrize(("entity", "name", "value"), _equality_cases())
def test_each_equality_filter(reference_api, entity, name, value):
    truth = dump_records(reference_api.db_path, "acme", entity)
    want = [r for r in truth if (str(r[name]).lower() if isinstance(r[name], bool) else r[name]) == value]
    assert list_all(reference_api, entity, limit=1000, **{name: value}) == want


def test_ids_filter(reference_api):
    truth = dump_records(reference_api.db_path, "acme", "deals")
    wanted = [truth[i]["id"] for i in (0, 3, 99, 250)] + ["deal_999999"]
    got = list_all(reference_api, "deals", ids=",".join(reversed(wanted)), limit=2)
    assert got == [r for r in truth if r["id"] in wanted]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_time_window_and_equality_filters_match_brute_force(reference_api, data):
    entity = data.draw(st.sampled_from(READ_ENTITIES))
    spec = ENTITIES[entity]
    truth = dump_records(reference_api.db_path, "acme", entity)
    since_name, until_name = spec.time_params
    stamps = [r[spec.time_field] for r in truth]
    params: dict[str, str] = {}
    since = data.draw(st.none() | st.sampled_from(stamps))  # existing values: boundaries matter
    until = data.draw(st.none() | st.sampled_from(stamps))
    if since:
        params[since_name] = since
    if until:
        # the same instant in another spelling (offset) must mean the same thing
        params[until_name] = ms(until).astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    name = data.draw(st.none() | st.sampled_from(spec.equality_filters))
    if name:
        value = data.draw(st.sampled_from([r[name] for r in truth if r[name] is not None]))
        params[name] = str(value).lower() if isinstance(value, bool) else value
    sort = data.draw(st.sampled_from(spec.sorts))

    def keep(r: dict) -> bool:
        t = ms(r[spec.time_field])
        return (
            (since is None or t >= ms(since))
            and (until is None or t < ms(until))
            and (name is None or r[name] == (params[name] == "true" if isinstance(r[name], bool) else params[name]))
        )

    want = [r for r in truth if keep(r)]
    if sort != "id":
        want.sort(key=lambda r: ms(r[spec.time_field]), reverse=sort.startswith("-"))
    assert list_all(reference_api, entity, limit=500, sort=sort, **params) == want


def test_sub_millisecond_bounds_are_exact(reference_api):
    truth = dump_records(reference_api.db_path, "acme", "accounts")
    t = ms(truth[10]["updated_at"])
    just_after = (t + dt.timedelta(microseconds=1)).isoformat()
    got_since = list_all(reference_api, "accounts", updated_since=just_after, limit=1000)
    assert got_since == [r for r in truth if ms(r["updated_at"]) > t]
    got_until = list_all(reference_api, "accounts", updated_until=just_after, limit=1000)
    assert got_until == [r for r in truth if ms(r["updated_at"]) <= t]


# -- bad input is a 400, never a 500 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/accounts", {"limit": "0"}), ("/v1/accounts", {"limit": "1001"}), ("/v1/accounts", {"limit": "ten"}),
        ("/v1/accounts", {"cursor": "garbage!"}), ("/v1/accounts", {"cursor": "eyJzIjoiaWQiLCJrIjpbMV19"}),
        ("/v1/accounts", {"sort": "name"}), ("/v1/accounts", {"updated_since": "yesterday"}),
        ("/v1/accounts", {"ids": ",".join(f"acc_{i:06d}" for i in range(101))}), ("/v1/accounts", {"ids": ","}),
        ("/v1/accounts", {"fields": "nope"}), ("/v1/accounts", {"is_active": "yes"}),
        ("/v1/accounts", {"stage": "proposal"}), ("/v1/events", {"updated_since": "2024-01-01"}),
        ("/v1/events", {"sort": "updated_at"}), ("/v1/contacts", {"limit": ["1", "2"]}),
    ],
)
def test_bad_parameters_are_400_with_an_error_body(reference_api, path, params):
    response = get(reference_api, path, **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_request" and error["message"]


def test_cursor_from_another_sort_is_rejected(reference_api):
    cursor = get(reference_api, "/v1/accounts", limit=5).json()["next_cursor"]
    assert get(reference_api, "/v1/accounts", cursor=cursor, sort="-updated_at").status_code == 400
    assert get(reference_api, "/v1/accounts", cursor=cursor, sort="id").status_code == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(["limit", "cursor", "sort", "updated_since", "updated_until", "ids", "fields", "country", "is_active"]),
    value=st.text(max_size=40),
)
def test_fuzzed_parameter_values_never_cause_a_server_error(reference_api, name, value):
    response = get(reference_api, "/v1/accounts", **{name: value})
    assert response.status_code in (200, 400), response.text
    assert ("error" in response.json()) == (response.status_code == 400)


# -- determinism and OpenAPI ---------------------------------------------------------------------


def test_same_seed_same_data_other_seed_other_data():
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"{i}.sqlite" for i in range(3)]
        for path, seed in zip(paths, (7, 7, 8), strict=True):
            Store.open(path, seed=seed, scale=0.02).close()
        for entity in READ_ENTITIES:
            a, b, c = (dump_records(p, "acme", entity) for p in paths)
            assert a == b and len(a) > 0
            assert a != c
        assert dump_records(paths[0], "acme", "accounts") != dump_records(paths[0], "globex", "accounts")


def test_openapi_describes_every_route_and_validates_real_responses(reference_api):
    doc = requests.get(reference_api.url + "/openapi.json", timeout=10).json()
    paths = doc["paths"]
    for name, spec in ENTITIES.items():
        listing = paths[f"/v1/{name}"]["get"]
        param_names = {p["name"] for p in listing["parameters"]}
        assert param_names == {"limit", "cursor", "sort", "fields", "ids", *spec.time_params, *spec.equality_filters}
        assert set(paths[f"/v1/{name}/{{id}}"]) >= {"get"} | ({"patch"} if spec.patchable else set())
        page_schema = listing["responses"]["200"]["content"]["application/json"]["schema"]
        record_schema = doc["components"]["schemas"][page_schema["$ref"].rsplit("/", 1)[1]]["properties"]["data"]
        item = doc["components"]["schemas"][record_schema["items"]["$ref"].rsplit("/", 1)[1]]
        assert list(item["properties"]) == list(spec.field_names)
        assert set(item["required"]) == set(spec.field_names)
    assert {"post", "put", "delete"} <= set(paths["/v1/predictions"]) | set(paths["/v1/predictions/{id}"])
    assert "/oauth/token" in paths

    # every record the API serves validates against its documented schema (formats checked too)
    registry_doc = {"components": doc["components"]}
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    for name in READ_ENTITIES:
        schema = {**doc["paths"][f"/v1/{name}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
                  "components": registry_doc["components"]}
        page = get(reference_api, f"/v1/{name}", limit=1000).json()
        jsonschema.Draft202012Validator(schema, format_checker=checker).validate(page)
