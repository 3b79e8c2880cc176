"""Injection: quotes, URL metacharacters and path traversal in filter values, SQL literals, ids and
passthrough queries never change which endpoint or host is called; values arrive encoded, exactly
as given (checked at the server: the path and query string that arrived). Next-page URLs cannot
send a request, or the credentials, to another host."""

from __future__ import annotations

import json
import re

import boto3
import pyarrow as pa
import pytest

from appflow_connector import session
from appflow_connector.handler import lambda_handler as appflow_handler
from athena_connector import errors as athena_errors
from athena_connector import protocol as p
from athena_connector.handler import reset_container
from saasbridge.catalog.model import Auth, Pagination
from saasbridge.client import SaasClient
from saasbridge.client.credentials import Credentials
from saasbridge.errors import ApiError
from saasbridge.local.httpstub import StubServer, reply, stub_catalog
from tests import reliability_report
from tests.athena_driver import scan

NASTY = [
    "DE&ids=acc_000001",
    "x' OR '1'='1",
    'a"b\\c',
    "../../admin?x=1#frag",
    "%2e%2e%2f%2e%2e%2fadmin",
    "http://evil.example/v1/accounts",
    "a b+c;d,e",
    "ünïcødé/\u0000",
]


class Recorder:
    """A stub API that records what arrived and answers every list with no records."""

    def __init__(self):
        self.server = StubServer(self.handle)

    def handle(self, request):
        return reply({"data": [], "next_cursor": None})

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop()

    @property
    def requests(self):
        return self.server.requests


@pytest.fixture
def env(aws_env, monkeypatch):
    def setup(url: str) -> str:
        monkeypatch.setenv("SAASBRIDGE_API_URL", url)
        monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
        monkeypatch.delenv("SAASBRIDGE_CATALOG", raising=False)
        monkeypatch.delenv("spill_bucket", raising=False)
        reset_container()
        session.reset()
        session._clients.clear()
        client = boto3.client("secretsmanager")
        try:
            return client.create_secret(Name="inject", SecretString=json.dumps({"apiKey": "demo-acme-key"}))["ARN"]
        except client.exceptions.ResourceExistsException:
            return client.describe_secret(SecretId="inject")["ARN"]

    yield setup
    reset_container()
    session.reset()


def appflow_query(url: str, arn: str, expression: str) -> dict:
    return appflow_handler({
        "type": "QueryDataRequest", "entityIdentifier": "accounts", "filterExpression": expression,
        "maxResults": 10,
        "connectorContext": {"connectorRuntimeSettings": {"instanceUrl": url},
                             "credentials": {"secretArn": arn, "authenticationType": "ApiKey"}}}, None)


def _check_arrivals(requests, allowed_paths: set[str]) -> None:
    for r in requests:
        assert r.path in allowed_paths, r.raw_path
        assert not r.raw_path.count("#")


@pytest.mark.parametrize("value", NASTY, ids=range(len(NASTY)))
def test_filter_values_and_sql_literals_arrive_encoded(env, value):
    with Recorder() as api:
        arn = env(api.server.url)
        quoted = value.replace("\\", "\\\\").replace("'", "\\'")
        response = appflow_query(api.server.url, arn, f"country = '{quoted}'")
        assert response["isSuccess"], response["errorDetails"]
        scan("accounts", summary={"country": p.values_in(pa.string(), [value])}, limit=5)
    assert len(api.requests) == 2
    _check_arrivals(api.requests, {"/v1/accounts"})
    for r in api.requests:
        assert r.query["country"] == value  # exactly the value, nothing leaked into other parameters
        assert set(r.query) <= {"country", "limit", "fields", "sort", "cursor"}, r.query
    reliability_report.record("injection", f"filter value / SQL literal {value!r}",
                              "AppFlow filter expression and Athena value set",
                              "same endpoint, value arrives exactly once, encoded",
                              "2 requests to /v1/accounts, country == the value")


@pytest.mark.parametrize("value", NASTY, ids=range(len(NASTY)))
def test_ids_are_parameters_or_encoded_path_segments(env, value):
    with Recorder() as api:
        arn = env(api.server.url)
        response = appflow_handler({
            "type": "RetrieveDataRequest", "entityIdentifier": "accounts", "ids": [value, "acc_000001"],
            "connectorContext": {"connectorRuntimeSettings": {"instanceUrl": api.server.url},
                                 "credentials": {"secretArn": arn, "authenticationType": "ApiKey"}}}, None)
        assert response["isSuccess"], response["errorDetails"]
    _check_arrivals(api.requests, {"/v1/accounts"})
    assert api.requests and all(r.query["ids"].split(",")[-1] == "acc_000001" for r in api.requests)
    # fetch by id through a get path: one path segment, percent-encoded
    with StubServer(lambda r: reply({"id": "x", "n": 1})) as stub:
        client = SaasClient(stub_catalog(stub.url), Credentials())
        client.get(client.catalog.entity("things"), value)
        client.close()
    (arrived,) = stub.requests
    assert arrived.path.startswith("/v1/things/") and arrived.path.count("/") == 3, arrived.raw_path
    assert "?" not in arrived.raw_path and "#" not in arrived.raw_path
    reliability_report.record("injection", f"id {value!r}", "RetrieveData ids and GET by id",
                              "ids parameter, or one percent-encoded path segment",
                              "only /v1/accounts and /v1/things/<segment> called")


PASSTHROUGH = [
    "http://evil.example/v1/accounts",
    "//evil.example/accounts",
    "accounts/../../admin",
    "accounts?country=DE#x",
    "accounts?cursor=http://evil.example/",
    "accounts?ids=acc_1&limit=1000000",
    "../accounts",
]


@pytest.mark.parametrize("query", PASSTHROUGH)
def test_passthrough_cannot_leave_the_entity_endpoint(env, query):
    with Recorder() as api:
        env(api.server.url)
        try:
            scan("accounts", passthrough={"schemaFunctionName": "system.query", "query": query})
            outcome = "ran"
        except athena_errors.AthenaConnectorError as exc:
            outcome = type(exc).__name__
    _check_arrivals(api.requests, {"/v1/accounts"})
    assert outcome != "ran" or all(r.query.get("country") == "DE" for r in api.requests)
    reliability_report.record("injection", f"passthrough {query!r}", "system.query text",
                              "only /v1/accounts on the API's host, or a clear error",
                              f"{outcome}; {len(api.requests)} request(s), all to /v1/accounts")


def test_next_page_urls_cannot_redirect(env):
    calls = []

    def handle(request):
        calls.append(request)
        return reply({"data": [{"id": "r1", "n": 1}], "next": "http://evil.example:1/steal?page=2"})

    with StubServer(handle) as stub:
        cat = stub_catalog(stub.url, pagination=Pagination(style="next_url", next_url_path="next"),
                           auth=Auth(type="bearer"))
        client = SaasClient(cat, Credentials({"apiKey": "demo-acme-key"}))
        with pytest.raises(ApiError, match="refusing to send credentials"):
            list(client.list_pages(cat.entity("things"), {}, page_size=10))
        client.close()
    assert len(calls) == 1 and calls[0].headers.get("host", "").startswith("127.0.0.1")
    reliability_report.record(
        "injection", "next-page URL to another host", "next = http://evil.example:1/steal",
        "request refused, credentials not sent", "ApiError 'refusing to send credentials', 1 request (own host)")


# ---------------------------------------------------------------- query languages (issue 24)

QUOTED_STRING = r'"(?:[^"\\]|\\.)*"'
GRAMMARS = {
    # name: (query block, a pattern of the whole string for one eq clause, how to decode the value)
    "stripe": ({"param": "query", "operators": {"eq": "{field}:{value}"}, "group": None,
                "quote_kinds": ["string"], "escape": [["\\", "\\\\"], ['"', '\\"']], "max_terms": 10},
               r'name:(?P<v>"(?:[^"\\]|\\.)*")\Z', lambda v: re.sub(r"\\(.)", r"\1", v[1:-1])),
    "jql": ({"param": "jql", "operators": {"eq": "{field} = {value}"}, "not": "NOT {item}",
             "template": "project = OPS{filter}", "where": " AND {filter}",
             "escape": [["\\", "\\\\"], ['"', '\\"']]},
            r'project = OPS AND name = (?P<v>"(?:[^"\\]|\\.)*")\Z', lambda v: re.sub(r"\\(.)", r"\1", v[1:-1])),
    "soql": ({"param": "q", "operators": {"eq": "{field} = {value}"}, "quote": "'", "quote_kinds": ["string"],
              "escape": [["\\", "\\\\"], ["'", "\\'"]], "template": "SELECT {fields} FROM Account{filter}",
              "where": " WHERE {filter}"},
             r"SELECT id, name FROM Account WHERE name = (?P<v>'(?:[^'\\]|\\.)*')\Z",
             lambda v: re.sub(r"\\(.)", r"\1", v[1:-1])),
    "zendesk": ({"param": "query", "operators": {"eq": "{field}:{value}"}, "and": " ", "or": None, "group": None,
                 "template": "type:ticket {filter}", "forbidden": '"', "escape": []},
                r'type:ticket name:(?P<v>"[^"]*")\Z', lambda v: v[1:-1]),
    "github": ({"param": "q", "operators": {"eq": "{field}:{value}"}, "and": " ", "or": None, "group": None,
                "template": "repo:octo/app {filter}", "forbidden": '"', "escape": []},
               r'repo:octo/app name:(?P<v>"[^"]*")\Z', lambda v: v[1:-1]),
}


def _grammar_catalog(query: dict):
    from saasbridge.catalog import catalog_from_dict

    return catalog_from_dict({
        "name": "grammar", "base_url": "http://127.0.0.1:9", "auth": {"type": "none"},
        "entities": [{"name": "items", "path": "/items", "fields": [
            {"name": "id", "type": "string", "nullable": False}, {"name": "name", "type": "string"}],
            "search": {"method": "GET", "path": "/search", "query": query}}]})


@pytest.mark.parametrize("grammar", list(GRAMMARS))
@pytest.mark.parametrize("value", [*NASTY, "a' OR 1=1 --", 'x" OR name:"y', "x\\", "\\\"", "AND OR NOT ()"],
                         ids=range(len(NASTY) + 5))
def test_query_language_values_cannot_add_a_clause(grammar, value):
    """A value is one clause's value whatever it holds: escaped by the grammar's rules, it decodes
    back to itself and the string holds nothing else; a value the grammar cannot carry (a quote
    where there is no escape) is not sent at all: the residual applies that condition."""
    from saasbridge.query.ir import Compare, Query
    from saasbridge.query.planner import plan

    block, pattern, decode = GRAMMARS[grammar]
    planned = plan(_grammar_catalog(block), Query("items", ("id", "name"), Compare("name", "eq", value)))
    sent = planned.params.get(block["param"])
    if '"' in value and block.get("forbidden"):
        assert sent is None or "name:" not in sent
        assert planned.residual == Compare("name", "eq", value)
        return
    assert sent is not None, planned.pushed
    found = re.match(pattern, sent, re.DOTALL)
    assert found, sent
    assert decode(found.group("v")) == value


@pytest.mark.parametrize("value", [*NASTY, 'x" OR name:"y', "x\\"], ids=range(len(NASTY) + 2))
def test_stripe_search_values_arrive_as_one_clause(value):
    """At the server: the query parameter arrives intact and the API's grammar (the Stripe stub's
    parser) reads one clause whose value is the whole value."""
    from saasbridge.catalog import load_catalog
    from saasbridge.client import Credentials, SaasClient
    from saasbridge.query.ir import Compare, Query
    from saasbridge.query.reader import read
    from tests.saas_stubs.stripe import API_KEY, Stripe, parse_query

    api = Stripe(5)
    api.customers[2]["name"] = value
    with StubServer(api) as server:
        catalog = load_catalog("tests/saas_stubs/stripe.yaml", env={"SAASBRIDGE_API_URL": server.url})
        client = SaasClient(catalog, Credentials({"apiKey": API_KEY}))
        rows = [r for page in read(client, catalog, Query("customers", ("id", "name"), Compare("name", "eq", value)))
                for r in page.batch.to_pylist()]
        (request,) = server.requests
    assert request.path == "/v1/customers/search"
    assert [r["id"] for r in rows] == [api.customers[2]["id"]]
    keep = parse_query(request.query["query"])
    assert [c["id"] for c in api.customers if keep(c)] == [api.customers[2]["id"]]
