"""Credentials from the environment and from Secrets Manager (the moto server), the Runtime, and
that no credential value reaches an exception, a repr, a resume state or a log record."""

from __future__ import annotations

import dataclasses
import logging

import boto3
import orjson
import pytest

from saasbridge.catalog.model import Auth, Pagination
from saasbridge.client import Credentials, SaasClient, credentials_from_env, credentials_from_secret
from saasbridge.client.credentials import clear_secret_cache
from saasbridge.errors import ApiError, ConfigError, SaasBridgeError
from saasbridge.local.httpstub import StubReply, StubRequest, StubServer, dataset, reply, stub_catalog
from saasbridge.runtime import Runtime

SECRET_VALUES = {
    "apiKey": "sk-live-0123456789",
    "username": "ann",
    "password": "pw-9876543210",
    "clientId": "client-abc",
    "clientSecret": "cs-0011223344",
    "accessToken": "at-5566778899",
}


def test_credentials_from_env_use_appflow_key_names():
    env = {"SAASBRIDGE_API_KEY": "k1", "SAASBRIDGE_CLIENT_ID": "c1", "SAASBRIDGE_CLIENT_SECRET": "",
           "UNRELATED": "x"}
    credentials = credentials_from_env(env)
    assert dict(credentials) == {"apiKey": "k1", "clientId": "c1"}


def test_repr_and_str_never_show_values():
    credentials = Credentials(SECRET_VALUES)
    for text in (repr(credentials), str(credentials), f"{credentials}"):
        assert not any(v in text for v in SECRET_VALUES.values())
        assert "apiKey" in text


@pytest.fixture
def secret_arn(aws_env):
    clear_secret_cache()
    client = boto3.client("secretsmanager")
    name = f"saasbridge-test-{id(client)}"
    secret = {**SECRET_VALUES, "authenticationType": "CUSTOM", "notes": "extra keys are tolerated"}
    arn = client.create_secret(Name=name, SecretString=orjson.dumps(secret).decode())["ARN"]
    yield arn
    client.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    clear_secret_cache()


def test_credentials_from_a_secret_through_the_moto_server(secret_arn):
    credentials = credentials_from_secret(secret_arn)
    assert dict(credentials) == SECRET_VALUES
    # cached per ARN: a changed secret is not read again within the cache period
    boto3.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString='{"apiKey": "new"}')
    assert credentials_from_secret(secret_arn) is credentials


def test_an_unreadable_secret_is_a_config_error(aws_env):
    clear_secret_cache()
    with pytest.raises(ConfigError, match="SAASBRIDGE_SECRET_ARN"):
        credentials_from_secret("arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf")


def test_runtime_reads_the_secret_and_overrides_the_base_url(secret_arn):
    with StubServer(lambda r: reply({"data": dataset(3), "next_cursor": None})) as server:
        runtime = Runtime(stub_catalog("http://127.0.0.1:9", auth=Auth(type="api_key", header="X-Key")),
                          {"SAASBRIDGE_SECRET_ARN": secret_arn})
        runtime.catalog = dataclasses.replace(runtime.catalog, base_url=server.url)
        first, second = runtime.client(), runtime.client()
        page = next(first.list_pages(runtime.catalog.entity("things"), {}, page_size=10))
        assert page.records == dataset(3)
        assert server.requests[0].headers["x-key"] == SECRET_VALUES["apiKey"]
        assert first.rate_limiter is second.rate_limiter and first.transport is second.transport
        assert first.stats is not second.stats


def test_runtime_from_env_with_the_demo_catalog():
    env = {"SAASBRIDGE_API_URL": "http://127.0.0.1:1234/", "SAASBRIDGE_API_KEY": "demo-acme-key"}
    runtime = Runtime.from_env(env)
    assert runtime.catalog.base_url == "http://127.0.0.1:1234"
    assert runtime.client().auth.__class__.__name__ == "BearerAuth"
    with pytest.raises(ConfigError, match="SAASBRIDGE_API_KEY"):
        Runtime.from_env({"SAASBRIDGE_API_URL": "http://127.0.0.1:1234"}).client()


def test_no_credential_value_in_errors_reprs_resume_states_or_logs(caplog):
    """Every failure path, with every credential style, leaves no value behind."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="saasbridge")  # the telemetry logger sets the namespace's level
    seen: list[str] = []

    def api(request: StubRequest) -> StubReply:
        if request.path == "/oauth/token":
            return reply({"access_token": SECRET_VALUES["accessToken"], "expires_in": 3600})
        if request.path == "/v1/echo":  # an API that repeats the key in its error message
            return reply({"error": {"message": f"key {request.query.get('k')} is not allowed"}}, 400)
        if request.path == "/v1/drop":
            return StubReply(drop=True)
        if request.path == "/v1/busy":
            return reply({}, 503)
        start = int(request.query.get("start", "0"))
        return reply({"data": dataset(4)[start : start + 2],
                      "next": f"/v1/things?start={start + 2}&k={request.query.get('k')}" if start < 2 else None})

    auths = [
        Auth(type="bearer"),
        Auth(type="api_key", query_param="k"),
        Auth(type="basic"),
        Auth(type="oauth2_client_credentials", token_url="/oauth/token"),
    ]
    with StubServer(api) as server:
        for auth in auths:
            catalog = stub_catalog(server.url, auth=auth, pagination=Pagination(style="next_url"))
            client = SaasClient(catalog, Credentials(SECRET_VALUES), sleep=lambda s: None)
            seen += [repr(client), str(client.auth), repr(client.credentials)]
            seen += [orjson.dumps(p.resume).decode()
                     for p in client.list_pages(catalog.entity("things"), {}, page_size=2)]
            for path in ("/v1/echo", "/v1/drop", "/v1/busy", "http://127.0.0.2:1/v1/things"):
                with pytest.raises(SaasBridgeError) as caught:
                    client.request("GET", path)
                seen += [str(caught.value), repr(caught.value)]
            assert isinstance(caught.value, ApiError)
    seen.append(caplog.text)
    seen += [str(r.args) for r in caplog.records]
    assert any("retrying" in r.getMessage() for r in caplog.records)  # the log did have lines to check
    text = "\n".join(seen)
    for value in SECRET_VALUES.values():
        if len(value) >= 4:
            assert value not in text
