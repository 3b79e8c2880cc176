"""Every auth style against a real loopback server: what is actually sent, OAuth2 token life."""

from __future__ import annotations

import base64
import threading

import pytest

from saasbridge.catalog.model import Auth, Pagination
from saasbridge.client import Credentials, SaasClient
from saasbridge.errors import AuthenticationError, ConfigError
from saasbridge.local.httpstub import StubReply, StubRequest, StubServer, dataset, reply, stub_catalog


def echo(request: StubRequest) -> StubReply:
    return reply({"data": dataset(1), "next_cursor": None})


def first_request_of(auth: Auth, credentials: dict) -> StubRequest:
    with StubServer(echo) as server:
        client = SaasClient(stub_catalog(server.url, auth=auth), Credentials(credentials))
        client.request("GET", "/v1/things")
        (request,) = server.requests
    return request


def test_bearer_token_header():
    request = first_request_of(Auth(type="bearer"), {"accessToken": "tok-123"})
    assert request.headers["authorization"] == "Bearer tok-123"


def test_bearer_falls_back_to_the_api_key():
    request = first_request_of(Auth(type="bearer"), {"apiKey": "key-456"})
    assert request.headers["authorization"] == "Bearer key-456"


def test_api_key_in_a_header():
    request = first_request_of(Auth(type="api_key", header="X-Api-Key"), {"apiKey": "key-789"})
    assert request.headers["x-api-key"] == "key-789"
    assert "authorization" not in request.headers


def test_api_key_in_the_query_string():
    request = first_request_of(Auth(type="api_key", query_param="api_key"), {"apiKey": "key-abc"})
    assert request.query["api_key"] == "key-abc"
    assert "authorization" not in request.headers


def test_http_basic():
    request = first_request_of(Auth(type="basic"), {"username": "ann", "password": "s3cret:pw"})
    scheme, token = request.headers["authorization"].split(" ", 1)
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == "ann:s3cret:pw"


def test_query_key_echoed_in_next_url_is_sent_again_but_never_kept_in_the_resume_state():
    def api(request: StubRequest) -> StubReply:
        start = int(request.query.get("start", "0"))
        nxt = f"/v1/things?start={start + 2}&api_key={request.query['api_key']}" if start < 4 else None
        return reply({"data": dataset(6)[start : start + 2], "next": nxt})

    with StubServer(api) as server:
        catalog = stub_catalog(server.url, auth=Auth(type="api_key", query_param="api_key"),
                               pagination=Pagination(style="next_url"))
        client = SaasClient(catalog, Credentials({"apiKey": "key-echoed"}))
        pages = list(client.list_pages(catalog.entity("things"), {}, page_size=2))
        assert [r for p in pages for r in p.records] == dataset(6)
        assert all(r.query["api_key"] == "key-echoed" for r in server.requests)
        assert all("key-echoed" not in str(p.resume) for p in pages)


@pytest.mark.parametrize(
    ("auth", "variable"),
    [
        (Auth(type="bearer"), "SAASBRIDGE_API_KEY"),
        (Auth(type="api_key", header="X-Api-Key"), "SAASBRIDGE_API_KEY"),
        (Auth(type="basic"), "SAASBRIDGE_PASSWORD"),
        (Auth(type="oauth2_client_credentials", token_url="/oauth/token"), "SAASBRIDGE_CLIENT_SECRET"),
    ],
)
def test_missing_credentials_name_the_variable_to_set(auth, variable):
    partial = {"username": "ann", "clientId": "cid"}
    with pytest.raises(ConfigError, match=variable):
        SaasClient(stub_catalog("http://127.0.0.1:9", auth=auth), Credentials(partial))


def test_a_static_credential_refused_is_an_authentication_error_without_retry():
    with StubServer(lambda r: reply({"error": {"code": "unauthorized", "message": "bad key"}}, 401)) as server:
        client = SaasClient(stub_catalog(server.url, auth=Auth(type="bearer")), Credentials({"apiKey": "nope"}))
        with pytest.raises(AuthenticationError, match="HTTP 401"):
            client.request("GET", "/v1/things")
        assert len(server.requests) == 1


class OAuthApi:
    """Token endpoint + API: issues tok-1, tok-2, …; accepts only tokens in `valid`."""

    def __init__(self, *, expires_in: int = 3600, secret: str = "cs-secret"):
        self.expires_in = expires_in
        self.secret = secret
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.accepting = True
        self.lock = threading.Lock()

    def __call__(self, request: StubRequest) -> StubReply:
        if request.path == "/oauth/token":
            form = request.form()
            if form.get("grant_type") != "client_credentials" or form.get("client_secret") != self.secret:
                return reply({"error": "invalid_client"}, 401)
            with self.lock:
                token = f"tok-{len(self.issued) + 1}"
                self.issued.append(token)
                self.valid.add(token)
            return reply({"access_token": token, "token_type": "bearer", "expires_in": self.expires_in})
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid or not self.accepting:
            return reply({"error": {"code": "unauthorized", "message": "token expired"}}, 401)
        return echo(request)


OAUTH = Auth(type="oauth2_client_credentials", token_url="/oauth/token", scopes=("read", "write"),
             refresh_margin_seconds=60)
OAUTH_CREDENTIALS = {"clientId": "cid", "clientSecret": "cs-secret"}


def api_requests(server: StubServer) -> list[StubRequest]:
    return [r for r in server.requests if r.path != "/oauth/token"]


def test_oauth2_token_is_fetched_once_and_shared_by_threads():
    api = OAuthApi()
    with StubServer(api) as server:
        client = SaasClient(stub_catalog(server.url, auth=OAUTH), Credentials(OAUTH_CREDENTIALS))
        threads = [threading.Thread(target=client.request, args=("GET", "/v1/things")) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        token_requests = [r for r in server.requests if r.path == "/oauth/token"]
    assert api.issued == ["tok-1"]
    assert token_requests[0].form() == {"grant_type": "client_credentials", "client_id": "cid",
                                        "client_secret": "cs-secret", "scope": "read write"}
    assert {r.headers["authorization"] for r in api_requests(server)} == {"Bearer tok-1"}
    assert len(api_requests(server)) == 8


def test_oauth2_token_is_refreshed_the_margin_before_it_expires():
    now = [1000.0]
    api = OAuthApi(expires_in=120)
    with StubServer(api) as server:
        client = SaasClient(stub_catalog(server.url, auth=OAUTH), Credentials(OAUTH_CREDENTIALS),
                            clock=lambda: now[0])
        client.request("GET", "/v1/things")
        now[0] += 59  # 61 s left: more than the 60 s margin
        client.request("GET", "/v1/things")
        now[0] += 2  # 59 s left: inside the margin
        client.request("GET", "/v1/things")
    assert [r.headers["authorization"] for r in api_requests(server)] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"
    ]


def test_oauth2_refreshes_and_retries_once_after_a_401():
    api = OAuthApi()
    with StubServer(api) as server:
        client = SaasClient(stub_catalog(server.url, auth=OAUTH), Credentials(OAUTH_CREDENTIALS))
        client.request("GET", "/v1/things")
        api.valid.clear()  # the API revokes the token early
        response = client.request("GET", "/v1/things")
    assert response.status == 200
    assert api.issued == ["tok-1", "tok-2"]
    assert [r.headers["authorization"] for r in api_requests(server)] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"
    ]


def test_oauth2_gives_up_after_one_refresh():
    api = OAuthApi()
    api.accepting = False  # the API accepts no token at all
    with StubServer(api) as server:
        client = SaasClient(stub_catalog(server.url, auth=OAUTH), Credentials(OAUTH_CREDENTIALS))
        with pytest.raises(AuthenticationError, match="HTTP 401"):
            client.request("GET", "/v1/things")
    assert api.issued == ["tok-1", "tok-2"]
    assert len(api_requests(server)) == 2


def test_oauth2_refused_client_secret_names_the_fix_and_not_the_secret():
    api = OAuthApi(secret="the-right-one")
    with StubServer(api) as server:
        client = SaasClient(stub_catalog(server.url, auth=OAUTH), Credentials(OAUTH_CREDENTIALS))
        with pytest.raises(AuthenticationError) as caught:
            client.request("GET", "/v1/things")
    message = str(caught.value)
    assert "SAASBRIDGE_CLIENT_SECRET" in message and "cs-secret" not in message
    assert api_requests(server) == []
