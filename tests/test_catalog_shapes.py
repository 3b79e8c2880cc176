"""API shapes of issue 13, each through both connectors (Athena handler events and AppFlow handler
events) against the helpdesk stub (tests/shapes_api.py): exact rows, and the request count at its
minimum, counted at the server."""

from __future__ import annotations

import json
import math
import os
from contextlib import ExitStack
from dataclasses import dataclass

import boto3
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appflow_connector.handler import lambda_handler as appflow_handler
from athena_connector import errors as athena_errors
from athena_connector import protocol as p
from athena_connector.handler import reset_container
from conformance.cases import APPFLOW_FIXTURES
from saasbridge.catalog import load_catalog, load_catalog_text
from saasbridge.local.httpstub import StubServer, reply
from tests.athena_driver import scan
from tests.helpers import appflow_query, appflow_records, put_secret
from tests.helpers import reset_connectors as _reset
from tests.shapes_api import ACCOUNTS, API_KEY, NOTES, Behaviour, all_notes, catalog_yaml, handler

BUCKET = "shapes-spill"
PAGE = 5
PAGE_NUMBER = ("{style: page_number, page_param: page, limit_param: per_page, default_page_size: 5, "
               "max_page_size: 5, total_header: X-Total-Count}")


def pages(rows: int, size: int = PAGE) -> int:
    """Requests a listing of `rows` needs when the API says its total: at least one."""
    return max(1, math.ceil(rows / size))


@dataclass
class Deployed:
    api: StubServer
    arn: str

    def athena(self, table: str, *, summary: dict | None = None, columns: list[str] | None = None,
               limit: int | None = None) -> list[dict]:
        return scan(table, summary=summary, columns=columns, limit=limit, schema_name="helpdesk").to_pylist()

    def appflow_call(self, entity: str, **kwargs) -> dict:
        return appflow_query(self.api.url, self.arn, entity, **kwargs)

    def appflow(self, entity: str, **kwargs) -> list[dict]:
        """Every record of a QueryData listing, following nextToken as AppFlow does."""
        return appflow_records(self.api.url, self.arn, entity, **kwargs)

    def read(self, connector: str, entity: str, *, accounts: list[str] | None = None,
             statuses: list[str] | None = None, columns: list[str] | None = None) -> list[dict]:
        """The rows of `entity` through one connector, constrained to some accounts / statuses."""
        if connector == "athena":
            summary = {k: strings(v) for k, v in (("account_id", accounts), ("status", statuses)) if v}
            return self.athena(entity, summary=summary or None, columns=columns)
        terms = [f"{k} in ({', '.join(repr(x) for x in v)})"
                 for k, v in (("account_id", accounts), ("status", statuses)) if v]
        return self.appflow(entity, expression=" and ".join(terms) or None, fields=columns)

    def paths(self) -> list[str]:
        """The API requests since the last call, as `path?query` (and forget them)."""
        taken, self.api.requests[:] = list(self.api.requests), []
        return [r.raw_path for r in taken]


@pytest.fixture
def deploy(aws_env, monkeypatch, tmp_path):
    """Both connectors serving a catalog against a helpdesk stub: `deploy(catalog_text, behaviour)`."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    stack = ExitStack()

    def setup(text: str, behaviour: Behaviour | None = None, secret: dict | None = None) -> Deployed:
        api = stack.enter_context(StubServer(handler(behaviour or Behaviour())))
        path = tmp_path / "helpdesk.yaml"
        path.write_text(text)
        load_catalog(path, env={**os.environ, "SAASBRIDGE_API_URL": api.url})  # valid
        secret = secret or {"apiKey": API_KEY}
        for name, value in {"SAASBRIDGE_CATALOG": str(path), "SAASBRIDGE_API_URL": api.url,
                            "spill_bucket": BUCKET, "SAASBRIDGE_ATHENA_MAX_SPLITS": "1"}.items():
            monkeypatch.setenv(name, value)
        for key, var in (("apiKey", "SAASBRIDGE_API_KEY"), ("accessToken", "SAASBRIDGE_ACCESS_TOKEN")):
            if key in secret:
                monkeypatch.setenv(var, secret[key])
        arn = put_secret(f"helpdesk-{tmp_path.name}", secret)
        _reset()
        return Deployed(api, arn)

    yield setup
    stack.close()
    _reset()


def _key(row: dict) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def same(got: list[dict], want: list[dict], columns: list[str]) -> bool:
    """The same rows (as a multiset) on `columns`, timestamps compared as text."""
    def norm(rows):
        return sorted(_key({c: _text(r.get(c)) for c in columns}) for r in rows)

    return norm(got) == norm(want)


def _text(value) -> str | None:
    if value is None:
        return None
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    return str(value).replace(".000Z", "").replace("Z", "")


def strings(values: list[str]) -> dict:
    return p.values_in(pa.string(), values)


# ------------------------------------------------------------------ 1. parent-scoped resources


NOTE_COLUMNS = ["id", "account_id", "body", "status", "created_at"]


def test_parent_scoped_listing_bound_by_the_query(deploy):
    """`WHERE account_id IN (…)`: one request series per value, on its path; the value is in the rows."""
    d = deploy(catalog_yaml(pagination=PAGE_NUMBER))
    chosen = ["acc_5", "acc_2", "acc_1"]  # 11, 3 and 0 notes
    want = [n for n in all_notes() if n["account_id"] in chosen]
    got = d.athena("notes", summary={"account_id": strings([*chosen, "acc_gone"])})  # 404: no such account
    assert same(got, want, NOTE_COLUMNS) and len(got) == 14
    requested = d.paths()
    assert sorted({r.split("?")[0] for r in requested}) == sorted(f"/accounts/{a}/notes" for a in [*chosen, "acc_gone"])
    assert len(requested) == sum(pages(len(NOTES[a])) for a in chosen) + 1  # 3 + 1 + 1, and the 404
    flows = d.appflow("notes", expression="account_id in ('acc_5', 'acc_2', 'acc_1')")
    assert same(flows, want, NOTE_COLUMNS)
    assert len(d.paths()) == sum(pages(len(NOTES[a])) for a in chosen)
    one = d.appflow("notes", expression="account_id = 'acc_7'", fields=["id", "account_id"])
    assert sorted(r["id"] for r in one) == [n["id"] for n in NOTES["acc_7"]]
    assert {r["account_id"] for r in one} == {"acc_7"}
    assert d.paths() == [f"/accounts/acc_7/notes?page={i}&per_page=5" for i in (1, 2)]


def test_parent_scoped_listing_fans_out_over_the_parent(deploy):
    """No constraint: the parent is paged first, then one listing per parent row."""
    d = deploy(catalog_yaml(pagination=PAGE_NUMBER))
    minimum = pages(len(ACCOUNTS)) + sum(pages(len(n)) for n in NOTES.values())
    got = d.athena("notes")
    assert same(got, all_notes(), NOTE_COLUMNS) and len(got) == sum(map(len, NOTES.values()))
    requested = d.paths()
    assert len(requested) == minimum, requested
    parent_pages = [r for r in requested if r.startswith("/accounts?")]
    assert parent_pages == ["/accounts?page=1&per_page=5", "/accounts?page=2&per_page=5"]
    # AppFlow in small calls: every nextToken resumes inside the fan-out without loss or repeat
    flows = d.appflow("notes", max_results=4)
    assert same(flows, all_notes(), NOTE_COLUMNS) and len(flows) == len(got)
    d.paths()
    whole = d.appflow("notes")
    assert same(whole, all_notes(), NOTE_COLUMNS)
    assert len(d.paths()) == minimum


def test_parent_scoped_without_constraint_or_parent_is_a_one_line_error(deploy):
    d = deploy(catalog_yaml(pagination=PAGE_NUMBER, parent=False))
    with pytest.raises(athena_errors.UnsupportedPredicateError) as exc:
        d.athena("notes")
    response = d.appflow_call("notes")
    message = response["errorDetails"]["errorMessage"]
    assert not response["isSuccess"] and response["errorDetails"]["errorCode"] == "InvalidArgument"
    for text in (str(exc.value), message):
        assert "account_id" in text and "\n" not in text, text
    assert d.paths() == []
    listing = appflow_handler({"type": "ListEntitiesRequest", "connectorContext": {
        "connectorRuntimeSettings": {"instanceUrl": d.api.url}, "apiVersion": "v1",
        "credentials": {"secretArn": d.arn, "authenticationType": "ApiKey"}}}, None)
    described = {e["entityIdentifier"]: e["description"] for e in listing["entities"]}
    assert "filter on account_id" in described["notes"] and described["accounts"] is None
    # bound by the query it works without a parent
    got = d.athena("notes", summary={"account_id": strings(["acc_3"])})
    assert same(got, [n for n in all_notes() if n["account_id"] == "acc_3"], NOTE_COLUMNS)
    assert len(d.paths()) == 1  # 5 notes, one full page, the total says it is the last


# ------------------------------------------------------------------ 2. totals and has-more in headers


SIGNALS = {
    "X-Total-Count": (PAGE_NUMBER, Behaviour()),
    "Content-Range": ("{style: offset, offset_param: offset, limit_param: limit, default_page_size: 5, "
                      "max_page_size: 5, total_header: Content-Range}", Behaviour(paging="offset", total="content-range")),
    "has-more header": ("{style: page_number, page_param: page, limit_param: per_page, default_page_size: 5, "
                        "max_page_size: 5, has_more_header: X-Has-More}", Behaviour(total="has-more")),
}


@pytest.mark.parametrize("signal", list(SIGNALS))
def test_header_signals_end_the_listing_without_asking_for_an_empty_page(deploy, signal):
    pagination, behaviour = SIGNALS[signal]
    d = deploy(catalog_yaml(pagination=pagination), behaviour)
    for connector in ("athena", "appflow"):
        assert same(d.read(connector, "accounts"), ACCOUNTS, ["id", "name"])
        assert len(d.paths()) == pages(len(ACCOUNTS)) == 2
        for account in ("acc_3", "acc_1", "acc_5"):  # a full page, none, 11 rows
            got = d.read(connector, "notes", accounts=[account])
            assert same(got, [n for n in all_notes() if n["account_id"] == account], NOTE_COLUMNS)
            assert len(d.paths()) == pages(len(NOTES[account]))


def test_without_a_signal_the_listing_asks_for_the_empty_page(deploy):
    """The baseline the header signals improve on: the empty page after the last one."""
    d = deploy(catalog_yaml(pagination="{style: page_number, page_param: page, limit_param: per_page, "
                                       "default_page_size: 5, max_page_size: 5}"), Behaviour(total=None))
    assert same(d.athena("notes", summary={"account_id": strings(["acc_3"])}), NOTES["acc_3"], ["id"])
    assert len(d.paths()) == pages(len(NOTES["acc_3"])) + 1


# ------------------------------------------------------------------ 6. static query parameters


def test_static_params_of_catalog_and_entity_go_with_every_request(deploy, monkeypatch):
    monkeypatch.setenv("HELPDESK_API_VERSION", "2024-01")
    d = deploy(catalog_yaml(pagination=PAGE_NUMBER, top_extra='params: {api-version: "${HELPDESK_API_VERSION}"}',
                            notes_extra="    params: {view: full, api-version: '2024-01'}"),
               Behaviour(required={"api-version": "2024-01"}))
    for connector in ("athena", "appflow"):
        assert same(d.read(connector, "notes", accounts=["acc_4", "acc_6"]),
                    [n for n in all_notes() if n["account_id"] in ("acc_4", "acc_6")], NOTE_COLUMNS)
        requests, d.api.requests[:] = list(d.api.requests), []
        assert len(requests) == pages(6) + pages(1)
        assert all(r.values("api-version") == ["2024-01"] and r.values("view") == ["full"] for r in requests)
        assert same(d.read(connector, "accounts"), ACCOUNTS, ["id", "name"])
        requests, d.api.requests[:] = list(d.api.requests), []
        assert len(requests) == pages(len(ACCOUNTS))
        assert all(r.values("api-version") == ["2024-01"] and not r.values("view") for r in requests)


# ------------------------------------------------------------------ 4. list-valued parameters as repeated keys


def test_in_filter_and_projection_as_repeated_keys(deploy):
    d = deploy(catalog_yaml(pagination=PAGE_NUMBER, status_filter=", filters: [{op: in, param: status, repeat: true}]",
                            notes_extra="    projection_param: fields\n    projection_repeat: true"))
    accounts, statuses = ["acc_5", "acc_7"], ["open", "closed"]
    want = [n for n in all_notes() if n["account_id"] in accounts and n["status"] in statuses]
    per_account = {a: len([n for n in want if n["account_id"] == a]) for a in accounts}
    for connector in ("athena", "appflow"):
        got = d.read(connector, "notes", accounts=accounts, statuses=statuses, columns=["id", "status"])
        assert same(got, want, ["id", "status"]) and len(got) == len(want) > 0
        requests, d.api.requests[:] = list(d.api.requests), []
        assert len(requests) == sum(pages(n) for n in per_account.values())
        for r in requests:
            assert sorted(r.values("status")) == ["closed", "open"]
            assert {"id", "status"} <= set(r.values("fields")) and len(r.values("fields")) == len(set(r.values("fields")))


# ------------------------------------------------------------------ 5. sort direction as its own parameter


SORT = """\
    sort:
      param: sort_by
      default: null
      options:
        - {column: created_at, value: created_at, params: {order: asc}}
        - {column: created_at, descending: true, value: created_at, params: {order: desc}}"""


def test_sort_direction_as_its_own_parameter(deploy):
    """ORDER BY … DESC LIMIT n: asked of the API as sort_by + order, so one page of n rows is enough.
    (AppFlow's QueryData has no order: the AppFlow path reads the same rows unordered.)"""
    d = deploy(catalog_yaml(pagination=PAGE_NUMBER, notes_sort=SORT))
    newest = sorted(NOTES["acc_5"], key=lambda n: n["created_at"], reverse=True)[:3]
    table = scan("notes", summary={"account_id": strings(["acc_5"])}, limit=3, order_by=[("created_at", "DESC_NULLS_LAST")],
                 schema_name="helpdesk")
    assert table.column("id").to_pylist() == [n["id"] for n in newest]
    assert d.paths() == ["/accounts/acc_5/notes?sort_by=created_at&order=desc&page=1&per_page=3"]
    assert same(d.read("appflow", "notes", accounts=["acc_5"]), [n for n in all_notes() if n["account_id"] == "acc_5"],
                NOTE_COLUMNS)


# ------------------------------------------------------------------ 3. a short page ends the listing (opt-in)


def test_short_page_ends_the_listing_when_asked(deploy):
    d = deploy(catalog_yaml(pagination="{style: page_number, page_param: page, limit_param: per_page, "
                                       "default_page_size: 5, max_page_size: 5, stop_on_short_page: true}"),
               Behaviour(total=None))
    for connector in ("athena", "appflow"):
        assert same(d.read(connector, "accounts"), ACCOUNTS, ["id", "name"])
        assert len(d.paths()) == 2  # 5 + 2: the short second page is the last
        for account, requests in (("acc_7", 2), ("acc_6", 1), ("acc_3", 2)):  # 10 rows: full, full, (empty)
            got = d.read(connector, "notes", accounts=[account])
            assert same(got, [n for n in all_notes() if n["account_id"] == account], NOTE_COLUMNS)
            assert len(d.paths()) == requests + (account == "acc_7")


# ------------------------------------------------------------------ 8. cheap probes


def test_probes_ask_for_one_record_with_the_page_number(deploy):
    """The API ignores per_page without a page number: a probe without it would read everything."""
    d = deploy(catalog_yaml(pagination=PAGE_NUMBER, top_extra="params: {api-version: '2024-01'}"),
               Behaviour(required={"api-version": "2024-01"}))
    creds = {"secretArn": d.arn, "authenticationType": "ApiKey"}
    answer = appflow_handler({"type": "ValidateCredentialsRequest", "credentials": creds,
                              "connectorRuntimeSettings": {"instanceUrl": d.api.url}}, None)
    assert answer["isSuccess"], answer
    answer = appflow_handler({"type": "ValidateConnectorRuntimeSettingsRequest", "scope": "CONNECTOR_PROFILE",
                              "connectorRuntimeSettings": {"instanceUrl": d.api.url}}, None)
    assert answer["isSuccess"], answer
    one = "/accounts?api-version=2024-01&page=1&per_page=1"
    assert d.paths() == [one, one]
    assert len(d.athena("accounts", limit=1)) == 1
    assert d.paths() == [one]
    bad = appflow_handler({"type": "ValidateCredentialsRequest", "connectorRuntimeSettings": {"instanceUrl": d.api.url},
                           "credentials": {"secretArn": _secret(d, {"apiKey": "wrong"}), "authenticationType": "ApiKey"}},
                          None)
    assert not bad["isSuccess"] and d.paths() == [one]


def _secret(d: Deployed, value: dict) -> str:
    return put_secret(f"wrong-{d.api.url[-5:]}", value)


# ------------------------------------------------------------------ 7. OAuth2 authorization code with refresh tokens


class TokenServer:
    """The provider's token endpoint, rotating refresh tokens: each is good for one refresh."""

    def __init__(self) -> None:
        self.refresh = {"rt-initial-5d1c"}
        self.access = {"at-appflow-stored-93b2"}
        self.issued = 0
        self.calls: list[dict] = []

    def handle(self, request):
        form = request.form()
        self.calls.append(form)
        if (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) != (
                "refresh_token", "helpdesk-client", "helpdesk-client-secret-e4"):
            return reply({"error": "invalid_client"}, status=401)
        if form.get("refresh_token") not in self.refresh:
            return reply({"error": "invalid_grant"}, status=400)
        self.refresh.discard(form["refresh_token"])
        self.issued += 1
        access, rotated = f"at-issued-{self.issued:04d}-7a", f"rt-rotated-{self.issued:04d}-c9"
        self.access.add(access)
        self.refresh.add(rotated)
        return reply({"access_token": access, "refresh_token": rotated, "expires_in": 3600, "token_type": "bearer"})


OAUTH = ('{type: oauth2_authorization_code, token_url: /oauth/token, auth_url: "https://login.helpdesk.example/authorize", '
         'scopes: [notes.read, offline_access]}')


@pytest.fixture
def oauth_api(deploy, monkeypatch):
    tokens = TokenServer()
    behaviour = Behaviour(token_ok=lambda t: t in tokens.access)
    inner = handler(behaviour)
    d = deploy(catalog_yaml(pagination=PAGE_NUMBER, auth=OAUTH), behaviour,
               secret={"clientId": "helpdesk-client", "clientSecret": "helpdesk-client-secret-e4",
                       "refreshToken": "rt-initial-5d1c", "accessToken": "at-appflow-stored-93b2"})
    d.api.handler = lambda r: tokens.handle(r) if r.path == "/oauth/token" else inner(r)
    monkeypatch.delenv("SAASBRIDGE_API_KEY", raising=False)
    monkeypatch.delenv("SAASBRIDGE_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("SAASBRIDGE_SECRET_ARN", d.arn)
    return d, tokens


def _all_logs_at_debug(caplog) -> None:
    """Every logger at DEBUG but boto3's wire trace, which prints Secrets Manager bodies by design
    (as in tests/test_secrets.py)."""
    from saasbridge.telemetry import logger

    caplog.set_level("DEBUG")
    caplog.set_level("DEBUG", logger=logger.name)  # the connectors' logger (it does not propagate)
    for name in ("botocore", "boto3", "s3transfer"):
        caplog.set_level("INFO", logger=name)


def _secret_value(arn: str) -> dict:
    return json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])


def test_athena_refreshes_and_writes_the_rotated_refresh_token_back(oauth_api, capsys, caplog):
    d, tokens = oauth_api
    _all_logs_at_debug(caplog)
    for run in (1, 2):  # two containers: the second starts from the token the first wrote back
        _reset()
        assert same(d.athena("accounts"), ACCOUNTS, ["id", "name"])
        assert len([p for p in d.paths() if p.startswith("/accounts")]) == pages(len(ACCOUNTS))
        assert tokens.issued == run
        stored = _secret_value(d.arn)
        assert stored["refreshToken"] == f"rt-rotated-{run:04d}-c9" and stored["clientId"] == "helpdesk-client"
    # another container rotated the token after this one cached the secret: the refresh starts from the
    # secret's newest token (read under the refresh lease), so no refused request comes first
    boto3.client("secretsmanager").put_secret_value(SecretId=d.arn, SecretString=json.dumps(
        {**_secret_value(d.arn), "refreshToken": "rt-other-container-31"}))
    tokens.refresh = {"rt-other-container-31"}
    reset_container()  # a new Runtime; the credentials cache still holds the old token
    assert same(d.athena("accounts"), ACCOUNTS, ["id", "name"])
    assert [c["refresh_token"] for c in tokens.calls[-2:]] == ["rt-rotated-0001-c9", "rt-other-container-31"]
    assert _secret_value(d.arn)["refreshToken"] == "rt-rotated-0003-c9"
    logged = capsys.readouterr().out + capsys.readouterr().err + caplog.text
    assert "request served" in logged  # the logs were captured
    for secret in ("rt-", "at-", "helpdesk-client-secret"):
        assert secret not in logged


def test_appflow_advertises_the_grant_and_uses_the_token_appflow_stores(oauth_api, capsys, caplog):
    d, tokens = oauth_api
    fixture = json.loads((APPFLOW_FIXTURES / "responses" / "DescribeConnectorConfigurationResponse.oauth2.json")
                         .read_text())["authenticationConfig"]
    config = appflow_handler({"type": "DescribeConnectorConfigurationRequest", "locale": "en-US"},
                             None)["authenticationConfig"]
    assert config["isOAuth2Supported"] is True
    defaults = config["oAuth2Defaults"]
    assert set(fixture["oAuth2Defaults"]) - {"oAuth2CustomProperties"} <= set(defaults)
    assert defaults["authURL"] == ["https://login.helpdesk.example/authorize"]
    assert defaults["tokenURL"] == [f"{d.api.url}/oauth/token"]
    assert defaults["oAuth2GrantTypesSupported"] == ["AUTHORIZATION_CODE"]
    assert defaults["oAuthScopes"] == ["notes.read", "offline_access"]
    _all_logs_at_debug(caplog)
    got = d.read("appflow", "notes", accounts=["acc_5"])
    assert same(got, [n for n in all_notes() if n["account_id"] == "acc_5"], NOTE_COLUMNS)
    requests, d.api.requests[:] = list(d.api.requests), []
    assert len(requests) == pages(len(NOTES["acc_5"])) and not tokens.calls  # AppFlow refreshes, not the connector
    assert {r.headers["authorization"] for r in requests} == {"Bearer at-appflow-stored-93b2"}
    tokens.access.clear()  # the stored token expired: AppFlow is told, so that it refreshes
    response = d.appflow_call("notes", expression="account_id = 'acc_5'")
    assert not response["isSuccess"] and response["errorDetails"]["errorCode"] == "InvalidCredentials"
    assert not tokens.calls
    # AppFlow refreshed and stored a new access token: the warm container picks it up on the next 401
    tokens.access.add("at-appflow-refreshed-11")
    boto3.client("secretsmanager").put_secret_value(SecretId=d.arn, SecretString=json.dumps(
        {**_secret_value(d.arn), "accessToken": "at-appflow-refreshed-11"}))
    d.paths()
    again = d.read("appflow", "notes", accounts=["acc_5"])
    assert same(again, got, NOTE_COLUMNS) and not tokens.calls
    used = [r.headers["authorization"] for r in d.api.requests]
    assert used == ["Bearer at-appflow-stored-93b2"] + ["Bearer at-appflow-refreshed-11"] * pages(11)  # 401, retried
    logged = capsys.readouterr().out + caplog.text + json.dumps(response)
    assert "at-appflow" not in logged and "rt-" not in logged


# ------------------------------------------------------------------ the shapes drafted by `catalog from-openapi`


def _param(name: str, schema: dict, where: str = "query", **extra) -> dict:
    return {"name": name, "in": where, "schema": schema, **extra}


def helpdesk_openapi() -> dict:
    """The helpdesk API described the way such APIs document themselves."""
    common = [_param("api-version", {"type": "string", "enum": ["2024-01"]}, required=True),
              _param("page", {"type": "integer"}), _param("per_page", {"type": "integer", "maximum": 5, "default": 5})]
    listed = {"200": {"headers": {"X-Total-Count": {"schema": {"type": "integer"}}},
                      "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/X"}}}}}}

    def responses(schema: str) -> dict:
        return json.loads(json.dumps(listed).replace("#/components/schemas/X", f"#/components/schemas/{schema}"))

    string = {"type": "string"}
    return {
        "openapi": "3.1.0", "info": {"title": "Helpdesk"}, "servers": [{"url": "https://api.helpdesk.example"}],
        "paths": {
            "/accounts": {"get": {"parameters": common, "responses": responses("Account")}},
            "/accounts/{accountId}": {"get": {"parameters": [_param("accountId", string, "path", required=True)],
                                              "responses": {"200": {"description": "one"}}}},
            "/accounts/{accountId}/notes": {"get": {"parameters": [
                _param("accountId", string, "path", required=True), *common,
                _param("status", {"type": "array", "items": string}, explode=True),
                _param("fields", {"type": "array", "items": string}, explode=True),
                _param("sort_by", {"type": "string", "enum": ["created_at"]}),
                _param("order", {"type": "string", "enum": ["asc", "desc"], "default": "asc"}),
            ], "responses": responses("Note")}},
        },
        "components": {
            "schemas": {
                "Account": {"type": "object", "required": ["id"], "properties": {"id": string, "name": string}},
                "Note": {"type": "object", "required": ["id", "created_at"], "properties": {
                    "id": string, "body": string, "status": string,
                    "created_at": {"type": "string", "format": "date-time"}}},
            },
            "securitySchemes": {"oauth": {"type": "oauth2", "flows": {"authorizationCode": {
                "authorizationUrl": "https://login.helpdesk.example/authorize",
                "tokenUrl": "https://login.helpdesk.example/token", "scopes": {"notes.read": "read notes"}}}}},
        },
        "security": [{"oauth": ["notes.read"]}],
    }


def test_from_openapi_drafts_the_shapes_and_the_draft_serves_them(deploy):
    import yaml

    from saasbridge.catalog.openapi import draft_catalog_yaml

    text = draft_catalog_yaml(helpdesk_openapi(), source="helpdesk.json")
    draft = yaml.safe_load(text)
    assert draft["auth"] == {"type": "oauth2_authorization_code", "token_url": "https://login.helpdesk.example/token",
                             "auth_url": "https://login.helpdesk.example/authorize", "scopes": ["notes.read"]}
    assert draft["params"] == {"api-version": "2024-01"}
    assert draft["pagination"] == {"style": "page_number", "page_param": "page", "total_header": "X-Total-Count",
                                   "limit_param": "per_page", "max_page_size": 5, "default_page_size": 5}
    notes = draft["entities"][1]
    assert (notes["name"], notes["path"], notes["parent"]) == ("notes", "/accounts/{account_id}/notes",
                                                                {"entity": "accounts"})
    assert notes["projection_repeat"] is True
    assert notes["sort"]["options"] == [
        {"column": "created_at", "descending": False, "value": "created_at", "params": {"order": "asc"}},
        {"column": "created_at", "descending": True, "value": "created_at", "params": {"order": "desc"}}]
    fields = {f["name"]: f for f in notes["fields"]}
    assert fields["account_id"] == {"name": "account_id", "type": "string", "nullable": False}
    assert fields["status"]["filters"] == [{"op": "in", "param": "status", "repeat": True}]
    # the draft, with the stub's API key instead of the OAuth app, serves both connectors exactly
    served = yaml.safe_dump({**draft, "auth": {"type": "api_key", "header": "X-Api-Key", "prefix": ""}})
    d = deploy(served, Behaviour(required={"api-version": "2024-01"}))
    want = [n for n in all_notes() if n["account_id"] in ("acc_4", "acc_7") and n["status"] in ("open", "pending")]
    for connector in ("athena", "appflow"):
        got = d.read(connector, "notes", accounts=["acc_4", "acc_7"], statuses=["open", "pending"])
        assert same(got, want, NOTE_COLUMNS)
        assert len(d.paths()) == sum(pages(len([n for n in want if n["account_id"] == a])) for a in ("acc_4", "acc_7"))
        assert same(d.read(connector, "notes"), all_notes(), NOTE_COLUMNS)
        assert len(d.paths()) == pages(len(ACCOUNTS)) + sum(pages(len(n)) for n in NOTES.values())


# ------------------------------------------------------------------ fan-out: exact from any resume point


@settings(max_examples=25, deadline=None)
@given(counts=st.lists(st.integers(0, 7), min_size=0, max_size=6), size=st.integers(1, 4),
       bound=st.booleans(), data=st.data())
def test_fan_out_reads_every_row_once_from_any_resume_point(counts, size, bound, data):
    """Parent pages × per-parent listings, cut at any page and resumed from its state: the rows
    after it, exactly (no gap, no repeat), also when the accounts are bound by IN instead."""
    from saasbridge.client import SaasClient
    from saasbridge.client.credentials import Credentials
    from saasbridge.query.ir import InList, Query
    from saasbridge.query.reader import Reader

    notes = {f"a{i}": [{"id": f"n{i}_{j}", "created_at": "2024-01-01T00:00:00Z"} for j in range(c)]
             for i, c in enumerate(counts)}
    text = catalog_yaml(pagination=PAGE_NUMBER.replace("5", str(size)))
    with StubServer(handler(Behaviour(default_page_size=size), notes)) as api:
        catalog = load_catalog_text(text, env={"SAASBRIDGE_API_URL": api.url})
        client = SaasClient(catalog, Credentials({"apiKey": API_KEY}))
        chosen = (data.draw(st.lists(st.sampled_from(list(notes)), unique=True)) if bound and notes else None) or None
        query = Query("notes", ("id", "account_id"), InList("account_id", tuple(chosen)) if chosen else None)
        truth = [(n["id"], a) for a, ns in notes.items() for n in ns if chosen is None or a in chosen]
        pages = [(pg.batch.to_pylist(), pg.resume) for pg in Reader(client, catalog, query, prefetch=False)]
        rows = [(r["id"], r["account_id"]) for batch, _ in pages for r in batch]
        assert sorted(rows) == sorted(truth) and len(rows) == len(truth)
        assert pages[-1][1] is None
        cut = data.draw(st.integers(0, len(pages) - 1))
        if pages[cut][1] is not None:
            rest = [(r["id"], r["account_id"]) for pg in Reader(client, catalog, query, resume=pages[cut][1])
                    for r in pg.batch.to_pylist()]
            assert rest == rows[sum(len(b) for b, _ in pages[: cut + 1]):]
        client.close()
