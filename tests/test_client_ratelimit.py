"""Rate budget: token-bucket math, sharing across threads and clients, API headers, concurrency cap."""

from __future__ import annotations

import threading

import pytest

from saasbridge.catalog.model import RateBudget
from saasbridge.client import Credentials, SaasClient
from saasbridge.client.ratelimit import RateLimiter, TokenBucket
from saasbridge.local.httpstub import StubReply, StubServer, reply, stub_catalog


def expected_waits(count: int, rate: float, burst: int) -> list[float]:
    """From a full bucket at a frozen clock, the k-th request waits for the (k-burst+1)-th refill."""
    return [max(0.0, (k - burst + 1) / rate) for k in range(count)]


def test_token_bucket_math():
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(5)] == pytest.approx(expected_waits(5, 2.0, 3))
    now[0] += 10.0  # refills, but never beyond the burst
    assert [bucket.reserve() for _ in range(4)] == pytest.approx(expected_waits(4, 2.0, 3))
    assert bucket.reserve(max_wait=0.1) is None  # would wait 1.0 s: refused, nothing taken
    assert bucket.reserve() == pytest.approx(1.0)


def test_one_bucket_is_shared_fairly_by_threads():
    now = [0.0]
    bucket = TokenBucket(rate=10.0, burst=5, clock=lambda: now[0])
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [bucket.reserve() for _ in range(25)]
        with lock:
            waits.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # no token handed out twice, none lost: exactly the single-threaded schedule
    assert sorted(waits) == pytest.approx(expected_waits(200, 10.0, 5))


def test_rate_limit_headers_slow_down_before_a_429():
    now = [0.0]
    limiter = RateLimiter(RateBudget(requests_per_second=100, burst=100), clock=lambda: now[0],
                          wall_clock=lambda: 1_700_000_000.0)
    limiter.observe({"X-RateLimit-Remaining": "2", "X-RateLimit-Reset": "1"})
    assert [limiter.reserve() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.01])
    now[0] += 100
    limiter.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3"})
    assert limiter.reserve() == pytest.approx(3.0)
    now[0] += 100
    limiter.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(1_700_000_000 + 7)})
    assert limiter.reserve() == pytest.approx(7.0)


def test_client_follows_the_apis_headers_so_it_sees_no_429():
    now = [0.0]
    sleeps: list[float] = []
    limiter = RateLimiter(RateBudget(requests_per_second=1000, burst=1000), clock=lambda: now[0])
    with StubServer(lambda r: reply({"data": []}, X_RateLimit_Remaining="0", X_RateLimit_Reset="2")) as server:
        client = SaasClient(stub_catalog(server.url), rate_budget=limiter, sleep=sleeps.append)
        client.request("GET", "/v1/things")
        client.request("GET", "/v1/things")
    assert sleeps == pytest.approx([2.0])
    assert client.stats.wait_seconds == pytest.approx(2.0) and client.stats.throttled == 0


def test_clients_share_a_budget_per_origin_and_credential():
    catalog = stub_catalog("http://127.0.0.1:9")
    a = SaasClient(catalog, Credentials({"apiKey": "one"}))
    b = SaasClient(catalog, Credentials({"apiKey": "one"}))
    c = SaasClient(catalog, Credentials({"apiKey": "two"}))
    d = SaasClient(stub_catalog("http://127.0.0.1:10"), Credentials({"apiKey": "one"}))
    assert a.rate_limiter is b.rate_limiter
    assert a.rate_limiter is not c.rate_limiter and a.rate_limiter is not d.rate_limiter


@pytest.mark.parametrize("cap", [2, 8])
def test_concurrency_cap_bounds_requests_in_flight(cap):
    with StubServer(lambda r: StubReply(body={"data": []}, delay=0.1)) as server:
        budget = RateBudget(requests_per_second=10_000, burst=10_000, max_concurrency=cap)
        client = SaasClient(stub_catalog(server.url, rate_limit=budget), rate_budget=RateLimiter(budget))
        threads = [threading.Thread(target=client.request, args=("GET", "/v1/things")) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(server.requests) == 8
    assert server.max_in_flight <= cap
    if cap == 8:  # control: without a tight cap the same load does overlap
        assert server.max_in_flight > 2
