"""Refresh tokens under concurrency (issue 23): containers refreshing a rotating OAuth2 refresh
token at the same moment, each with its own client and token store, against Secrets Manager on
the moto server and a provider that revokes the whole chain when a spent refresh token comes back
(reuse detection, as OAuth 2.1 asks of rotating providers)."""

from __future__ import annotations

import threading
import uuid

import boto3
import orjson
import pytest

from saasbridge.catalog.model import Auth
from saasbridge.client import Credentials, SaasClient
from saasbridge.client.credentials import LEASE_KEY, SecretTokenStore, clear_secret_cache
from saasbridge.local.httpstub import StubReply, StubRequest, StubServer, dataset, reply, stub_catalog

CLIENT = {"clientId": "crm-client-7", "clientSecret": "crm-client-secret-3f"}
CONTAINERS = 8


class RotatingProvider:
    """The token endpoint and a data endpoint. Each refresh token is good for one refresh and
    answers with the next one (`chain`); a spent one presented again revokes the chain."""

    def __init__(self, first: str):
        self.chain = [first]
        self.spent: set[str] = set()
        self.revoked = False
        self.access: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, request: StubRequest) -> StubReply:
        if request.path == "/oauth/token":
            return self._token(request.form())
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.access:
            return reply({"error": "unauthorized"}, status=401)
        return reply({"data": dataset(3), "next_cursor": None})

    def _token(self, form: dict[str, str]) -> StubReply:
        presented = form.get("refresh_token")
        with self._lock:
            if self.revoked or presented != self.chain[-1]:
                self.revoked = self.revoked or presented in self.spent
                return reply({"error": "invalid_grant"}, status=400)
            self.spent.add(presented)
            self.chain.append(f"rt-{len(self.chain):03d}-{uuid.uuid4().hex[:6]}")
            access = f"at-{uuid.uuid4().hex}"
            self.access.add(access)
            return reply({"access_token": access, "refresh_token": self.chain[-1], "expires_in": 3600,
                          "token_type": "bearer"})


def _secret(name: str, values: dict) -> str:
    return boto3.client("secretsmanager").create_secret(Name=name, SecretString=orjson.dumps(values).decode())["ARN"]


def _stored(arn: str) -> dict:
    return orjson.loads(boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])


@pytest.fixture
def provider():
    first = f"rt-000-{uuid.uuid4().hex[:6]}"
    api = RotatingProvider(first)
    with StubServer(api) as server:
        yield api, server
    clear_secret_cache()


def test_concurrent_refreshers_leave_one_valid_token_chain(aws_env, provider):
    api, server = provider
    arn = _secret(f"oauth-{uuid.uuid4().hex[:8]}", {**CLIENT, "refreshToken": api.chain[0]})
    catalog = stub_catalog(server.url, auth=Auth(type="oauth2_authorization_code", token_url="/oauth/token"))
    start = threading.Barrier(CONTAINERS)
    results: list[object] = [None] * CONTAINERS

    def container(i: int) -> None:
        # a container of its own: credentials as it read them at start, its own store and client
        client = SaasClient(catalog, Credentials({**CLIENT, "refreshToken": api.chain[0]}),
                            token_store=SecretTokenStore(arn, client=boto3.client("secretsmanager")))
        start.wait()
        try:
            results[i] = [r for page in client.list_pages(catalog.entity("things"), {}, page_size=10)
                          for r in page.records]
        except Exception as exc:  # reported below, with the others
            results[i] = exc

    threads = [threading.Thread(target=container, args=(i,)) for i in range(CONTAINERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [dataset(3)] * CONTAINERS
    assert not api.revoked
    assert len(api.chain) == CONTAINERS + 1  # each container refreshed once, one after the other
    stored = _stored(arn)
    assert stored["refreshToken"] == api.chain[-1]  # the secret holds the chain's only live token
    assert LEASE_KEY not in stored and {k: stored[k] for k in CLIENT} == CLIENT


def test_a_write_on_a_version_no_longer_current_is_refused(aws_env):
    arn = _secret(f"oauth-{uuid.uuid4().hex[:8]}", {**CLIENT, "refreshToken": "rt-a"})
    store = SecretTokenStore(arn, client=boto3.client("secretsmanager"))
    values, read = store._current()
    assert store._write({**values, "refreshToken": "rt-b"}, read) is not None
    assert store._write({**values, "refreshToken": "rt-c"}, read) is None  # AWSCURRENT moved on
    assert _stored(arn)["refreshToken"] == "rt-b"
    store.save("rt-d")  # outside a lease: read again, then written on the version read
    assert _stored(arn) == {**CLIENT, "refreshToken": "rt-d"}


def test_a_refused_refresh_gives_the_lease_back(aws_env, provider):
    api, server = provider
    arn = _secret(f"oauth-{uuid.uuid4().hex[:8]}", {**CLIENT, "refreshToken": "rt-revoked-by-the-user"})
    catalog = stub_catalog(server.url, auth=Auth(type="oauth2_authorization_code", token_url="/oauth/token"))
    client = SaasClient(catalog, Credentials({**CLIENT, "refreshToken": "rt-revoked-by-the-user"}),
                        token_store=SecretTokenStore(arn, client=boto3.client("secretsmanager")))
    with pytest.raises(Exception, match="refused"):
        list(client.list_pages(catalog.entity("things"), {}, page_size=10))
    assert _stored(arn) == {**CLIENT, "refreshToken": "rt-revoked-by-the-user"}  # no lease left behind
