"""Deadlines: the client never starts a request it cannot finish, and says where to resume."""

from __future__ import annotations

import pytest

from saasbridge.catalog.model import RateBudget
from saasbridge.client import Deadline, SaasClient
from saasbridge.client.deadline import RequestTimer
from saasbridge.client.ratelimit import RateLimiter
from saasbridge.errors import DeadlineExceeded
from saasbridge.local.httpstub import StubRequest, StubServer, dataset, reply, stub_catalog


class SlowCursorApi:
    """A cursor API where every request takes `cost` seconds on a shared fake clock."""

    def __init__(self, rows: int, cost: float):
        self.rows = dataset(rows)
        self.cost = cost
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def __call__(self, request: StubRequest):
        self.now += self.cost
        start = int(request.query.get("cursor", "0"))
        end = start + int(request.query["limit"])
        return reply({"data": self.rows[start:end], "next_cursor": str(end) if end < len(self.rows) else None})


def read_until_deadline(client, deadline, resume=None):
    rows = []
    try:
        for page in client.list_pages(client.catalog.entity("things"), {}, page_size=5, resume=resume,
                                      deadline=deadline):
            rows.extend(page.records)
    except DeadlineExceeded as exc:
        return rows, exc
    return rows, None


def test_stops_before_a_request_it_cannot_finish_and_resumes_with_no_gap():
    api = SlowCursorApi(rows=40, cost=1.0)
    with StubServer(api) as server:
        client = SaasClient(stub_catalog(server.url), clock=api.clock, timer=RequestTimer(initial=0.5))
        deadline = Deadline(3.5, margin=0.25, clock=api.clock)
        first, stopped = read_until_deadline(client, deadline)
        # 3 requests fit (each takes 1 s); a 4th would end after the deadline, so it is not sent
        assert stopped is not None and len(server.requests) == 3
        assert not deadline.expired and api.now <= 3.5
        assert "resume" in str(stopped) and stopped.resume is not None

        rest, again = read_until_deadline(client, Deadline(100, clock=api.clock), resume=stopped.resume)
    assert again is None
    assert first + rest == api.rows


def test_a_retry_wait_that_does_not_fit_raises_instead_of_sleeping():
    sleeps: list[float] = []
    answers = iter([reply({"data": dataset(5), "next_cursor": "5"}), reply({}, 503, Retry_After="30")])
    with StubServer(lambda r: next(answers)) as server:
        client = SaasClient(stub_catalog(server.url), sleep=sleeps.append)
        pages = client.list_pages(client.catalog.entity("things"), {}, page_size=5, deadline=Deadline(10))
        first = next(pages)
        with pytest.raises(DeadlineExceeded) as caught:
            next(pages)
    assert sleeps == [] and len(server.requests) == 2
    assert caught.value.resume == first.resume  # the page that failed is fetched again on resume


def test_a_rate_budget_wait_that_does_not_fit_raises_without_taking_a_token():
    now = [0.0]
    limiter = RateLimiter(RateBudget(requests_per_second=0.1, burst=1, max_concurrency=1), clock=lambda: now[0])
    with StubServer(lambda r: reply({"data": [], "next_cursor": None})) as server:
        client = SaasClient(stub_catalog(server.url), rate_budget=limiter, sleep=lambda s: None)
        client.request("GET", "/v1/things", deadline=Deadline(5, clock=lambda: now[0]))
        with pytest.raises(DeadlineExceeded, match="rate budget"):
            client.request("GET", "/v1/things", deadline=Deadline(5, clock=lambda: now[0]))
        assert len(server.requests) == 1
        now[0] += 10  # one token has come back, and the refused request did not take it
        client.request("GET", "/v1/things", deadline=Deadline(5, clock=lambda: now[0]))
        assert len(server.requests) == 2


def test_deadline_from_lambda_context():
    class Context:
        def get_remaining_time_in_millis(self):
            return 30_000

    now = [0.0]
    deadline = Deadline.from_lambda_context(Context(), reserve=2.0, clock=lambda: now[0])
    assert deadline.remaining() == pytest.approx(28.0)
    now[0] = 28.0
    assert deadline.expired and deadline.remaining() == 0.0
    assert not deadline.allows(0.0)


def test_request_timer_expects_the_slowest_recent_request():
    timer = RequestTimer(initial=0.5, window=3)
    assert timer.estimate() == 0.5
    for seconds in (0.2, 0.9, 0.1, 0.3):
        timer.record(seconds)
    assert timer.estimate() == 0.9
    timer.record(0.1)
    assert timer.estimate() == 0.3  # 0.9 left the window


def test_request_timer_forgets_old_samples_so_one_slow_request_cannot_stall_forever():
    now = [0.0]
    timer = RequestTimer(initial=0.5, window=8, max_age=120.0, clock=lambda: now[0])
    timer.record(40.0)  # one request slower than a whole AppFlow call's budget
    assert timer.estimate() == 40.0
    now[0] = 119.0
    assert timer.estimate() == 40.0
    now[0] = 121.0  # no request ran since: the estimate falls back instead of blocking for good
    assert timer.estimate() == 0.5
