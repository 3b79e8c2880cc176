"""Retry paths against a real loopback server: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

import email.utils

import pytest

from saasbridge.catalog.model import QuotaResponse, Retry
from saasbridge.client import SaasClient
from saasbridge.client.retry import RetryPolicy, parse_retry_after
from saasbridge.errors import (
    ApiUnavailableError,
    AuthenticationError,
    BadRequestError,
    RateLimitedError,
)
from saasbridge.local.httpstub import StubReply, StubServer, dataset, reply, scripted, stub_catalog

OK = reply({"data": dataset(2), "next_cursor": None})
RETRY = Retry(max_attempts=4, base_delay=0.1, max_delay=0.3)


def run(replies: list[StubReply], *, retry: Retry = RETRY, method: str = "GET", then=None):
    """Send one request through a client whose sleeps are recorded instead of slept."""
    sleeps: list[float] = []
    with StubServer(scripted(replies, then=then or (lambda r: OK))) as server:
        client = SaasClient(stub_catalog(server.url, retry=retry), sleep=sleeps.append, rng=lambda: 1.0)
        try:
            outcome = client.request(method, "/v1/things", json={"x": 1} if method == "POST" else None)
        except Exception as exc:  # returned for the test to inspect
            outcome = exc
    return outcome, sleeps, client, server


def test_429_waits_the_retry_after_then_succeeds():
    outcome, sleeps, client, server = run([reply({"error": {"code": "rate_limited"}}, 429, Retry_After="2")])
    assert outcome.status == 200
    assert len(server.requests) == 2
    assert sum(sleeps) == pytest.approx(2.0, abs=0.05)
    assert client.stats.as_dict()["throttled"] == 1 and client.stats.retries == 1


def test_503_honours_retry_after_and_500_backs_off_exponentially():
    outcome, sleeps, client, server = run([reply({}, 503, Retry_After="1"), reply({}, 500), reply({}, 500)])
    assert outcome.status == 200
    assert len(server.requests) == 4
    # attempt 1: Retry-After; attempts 2 and 3: full jitter (rng=1.0 → the ceiling) of 0.1·2ⁿ⁻¹, capped
    assert sleeps == [1.0, min(0.3, 0.1 * 2), min(0.3, 0.1 * 4)]
    assert client.stats.retries == 3 and client.stats.throttled == 0


def test_dropped_connection_is_retried():
    outcome, sleeps, client, server = run([StubReply(drop=True), StubReply(drop=True)])
    assert outcome.status == 200
    assert len(server.requests) == 3
    assert client.stats.requests == 3 and client.stats.retries == 2


def test_configured_quota_response_is_treated_like_429():
    quota = QuotaResponse(status=403, body_path="0.errorCode", code="REQUEST_LIMIT_EXCEEDED")
    retry = Retry(max_attempts=3, base_delay=0.1, max_delay=0.3, quota_responses=(quota,))
    body = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]
    outcome, _, client, server = run([reply(body, 403)], retry=retry)
    assert outcome.status == 200 and len(server.requests) == 2
    assert client.stats.throttled == 1

    other = [{"errorCode": "INSUFFICIENT_ACCESS", "message": "no"}]
    outcome, _, _, server = run([reply(other, 403)], retry=retry)
    assert isinstance(outcome, AuthenticationError) and len(server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (reply({}, 429, Retry_After="0"), RateLimitedError),
        (reply({}, 429), RateLimitedError),
        (reply({}, 500), ApiUnavailableError),
        (reply({}, 503), ApiUnavailableError),
        (StubReply(drop=True), ApiUnavailableError),
    ],
)
def test_gives_up_after_max_attempts(answer, error):
    outcome, sleeps, client, server = run([], then=lambda r: answer)
    assert isinstance(outcome, error), outcome
    assert len(server.requests) == RETRY.max_attempts == client.stats.requests
    assert client.stats.retries == RETRY.max_attempts - 1
    assert "retry later" in str(outcome)


def test_bad_request_is_not_retried():
    outcome, _, _, server = run([reply({"error": {"code": "bad_request", "message": "limit must be <= 1000"}}, 400)])
    assert isinstance(outcome, BadRequestError)
    assert "limit must be <= 1000" in str(outcome)
    assert len(server.requests) == 1


def test_post_is_not_repeated_after_an_ambiguous_failure_but_is_after_503_and_429():
    outcome, _, _, server = run([reply({}, 500)], method="POST")
    assert isinstance(outcome, ApiUnavailableError) and len(server.requests) == 1
    outcome, _, _, server = run([StubReply(drop=True)], method="POST")
    assert isinstance(outcome, ApiUnavailableError) and len(server.requests) == 1
    outcome, _, _, server = run([reply({}, 503), reply({}, 429)], method="POST")
    assert outcome.status == 200 and len(server.requests) == 3


def test_backoff_is_capped_full_jitter():
    config = Retry(max_attempts=10, base_delay=0.2, max_delay=5.0)
    top = RetryPolicy(config, rng=lambda: 1.0)
    assert [top.backoff(a) for a in range(1, 8)] == [min(5.0, 0.2 * 2 ** (a - 1)) for a in range(1, 8)]
    assert RetryPolicy(config, rng=lambda: 0.0).backoff(5) == 0.0
    assert RetryPolicy(config, rng=lambda: 0.25).backoff(3) == pytest.approx(0.25 * 0.8)


def test_retry_after_as_seconds_or_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("junk") is None and parse_retry_after(None) is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=lambda: 1_000_000.0) == pytest.approx(30.0)
