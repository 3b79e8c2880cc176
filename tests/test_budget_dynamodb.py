"""The shared budget's DynamoDB backend against the moto server: leases, fairness, clock skew,
quotas (local count and the API's headers), per-query usage, fallback, and the table itself."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest

from saasbridge.catalog.model import RateBudget, SharedBudget
from saasbridge.client import Credentials, SaasClient
from saasbridge.client.budget import TokenBucket, budget_table, make_budget
from saasbridge.client.budget.admin import create_table, read_tenant
from saasbridge.client.budget.dynamodb import BucketTable, DynamoBudget, default_lease
from saasbridge.client.ratelimit import RateLimiter
from saasbridge.errors import QuotaExhaustedError
from saasbridge.local.httpstub import StubServer, reply, stub_catalog


@pytest.fixture
def table(aws_env) -> str:
    name = f"budget-{uuid.uuid4().hex[:8]}"
    assert create_table(name) is True
    return name


def tenant() -> str:
    return f"crm#{uuid.uuid4().hex[:16]}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_create_table_is_idempotent_and_sets_a_ttl(table):
    import boto3

    assert create_table(table) is False
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "expires_at"


def expected_waits(count: int, rate: float, burst: int) -> list[float]:
    """From a full bucket at a frozen clock, the k-th request waits for the (k-burst+1)-th refill."""
    return [max(0.0, (k - burst + 1) / rate) for k in range(count)]


def test_a_lease_serves_several_requests_with_one_update(table):
    pk = tenant()
    clock = FakeClock()
    budget = DynamoBudget(BucketTable(table, pk), 10, 10, SharedBudget(lease=4), clock=clock, prefetch=False)
    waits = [budget.reserve() for _ in range(12)]
    # one bucket's schedule; the table keeps a lease of the burst in reserve (see the module doc)
    assert waits == pytest.approx(expected_waits(12, 10, 10 - 4 - 1), abs=1e-5)
    assert budget.table.calls["write"] - budget.table.calls["conflict"] == 3  # three leases
    assert budget.table.calls["read"] == 0
    state = read_tenant(table, pk).bucket
    assert state.granted == 12 and state.returned == 0


def test_unused_tokens_are_reported_at_exit_and_left_out_of_the_quota(table):
    pk = tenant()
    budget = DynamoBudget(BucketTable(table, pk), 10, 10, SharedBudget(lease=5, daily_quota=1000, hourly_quota=100),
                          prefetch=False)
    budget.reserve()
    budget.close()
    seen = read_tenant(table, pk)
    assert (seen.bucket.granted, seen.bucket.returned) == (5, 4)
    assert sorted(seen.counts.values()) == [1, 1]  # today and this hour: the one request made


def test_stale_tokens_are_dropped_and_reported(table):
    pk = tenant()
    clock = FakeClock()
    budget = DynamoBudget(BucketTable(table, pk), 10, 10, SharedBudget(lease=3), clock=clock, prefetch=False)
    assert budget.reserve() == 0.0
    clock.now += 60  # a process that stalls does not keep its two other tokens
    assert budget.reserve() == 0.0
    state = read_tenant(table, pk).bucket
    assert (state.granted, state.returned) == (6, 2)


def test_processes_share_one_pace_fairly(table):
    """Four budgets (as four processes would) drawing as fast as they may for a while: together
    they keep one bucket's pace, and each gets a fair share."""
    pk = tenant()
    rate, burst, seconds = 40.0, 4, 2.0
    got = [0] * 4
    budgets = [DynamoBudget(BucketTable(table, pk), rate, burst, SharedBudget(lease=2)) for _ in got]
    for budget in budgets:
        assert budget.table.client  # boto3 clients are slow to make: not inside the measured time
    start = time.monotonic()

    def draw(i: int) -> None:
        budget = budgets[i]
        while True:
            wait = budget.reserve()
            time.sleep(wait)
            if time.monotonic() - start > seconds:
                break
            got[i] += 1
        budget.close()

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(got)
    assert total <= rate * seconds + burst + 2 * 4  # the tokens still held when time ran out
    assert total >= rate * seconds * 0.5  # and nobody starves the bucket (a loaded machine is slow)
    assert min(got) >= 0.4 * total / 4, got  # no one starves (a loaded machine wakes threads late)


def test_clock_skew_costs_at_most_one_burst_and_starves_no_one(table):
    """One process's clock runs 30 s ahead, another's 30 s behind; each takes a token, waits
    what it is told, takes the next. The bucket follows the latest clock, so skew adds at most
    one burst, and the process behind still gets its share."""
    pk = tenant()
    clock = FakeClock()
    rate, burst, seconds = 10.0, 5, 3.0
    wall = 1_800_000_000.0
    budgets = {
        name: DynamoBudget(BucketTable(table, pk), rate, burst, SharedBudget(lease=1), clock=clock,
                           wall_clock=lambda skew=skew: wall + skew, prefetch=False)
        for name, skew in (("behind", -30.0), ("ahead", 30.0))
    }
    ready = dict.fromkeys(budgets, clock.now)
    used: dict[str, list[float]] = {name: [] for name in budgets}
    start = clock.now
    while clock.now < start + seconds:
        for name, budget in budgets.items():
            if clock.now >= ready[name]:
                used[name].append(ready[name])  # the token taken last time is used now
                ready[name] = clock.now + budget.reserve()
        clock.now += 0.005
    total = sum(len(times) for times in used.values())
    assert total <= rate * seconds + 2 * burst
    assert min(len(times) for times in used.values()) >= total / 3, {k: len(v) for k, v in used.items()}


def test_quota_refuses_new_scans_with_what_is_left_and_when(table):
    pk = tenant()
    budget = DynamoBudget(BucketTable(table, pk), 1000, 100, SharedBudget(lease=5, daily_quota=20, refuse_at=0.5),
                          clock=FakeClock(), prefetch=False)
    budget.admit_scan()
    for _ in range(10):
        budget.reserve()  # a running read may go past the share: reads are never cut
    budget.close()
    other = DynamoBudget(BucketTable(table, pk), 1000, 100, SharedBudget(daily_quota=20, refuse_at=0.5))
    with pytest.raises(QuotaExhaustedError) as caught:
        other.admit_scan()
    message = str(caught.value)
    assert "\n" not in message
    assert "10 of this credential's daily quota of 20" in message and "10 left" in message
    assert "resets at" in message and "UTC" in message and "running reads finish" in message
    assert 1 <= caught.value.retry_after <= 86400


def test_the_apis_quota_header_wins_over_the_local_count(table):
    settings = SharedBudget(daily_quota=1000, refuse_at=0.8, daily_remaining_header="X-Daily-Remaining")
    pk = tenant()
    budget = DynamoBudget(BucketTable(table, pk), 1000, 100, settings, clock=FakeClock(), prefetch=False)
    budget.reserve()
    budget.admit_scan()  # a lease of 50 of 1000 by our count
    budget.observe({"X-Daily-Remaining": "150"})  # other integrations spent the rest
    with pytest.raises(QuotaExhaustedError, match="850 of this credential's daily quota of 1,000"):
        budget.admit_scan()
    budget.reserve()
    budget.close()  # stores the API's count for every process
    fresh = DynamoBudget(BucketTable(table, pk), 1000, 100, settings)
    with pytest.raises(QuotaExhaustedError, match="150 left"):
        fresh.admit_scan()


def test_a_client_reads_the_quota_header_from_real_responses(table, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_BUDGET_TABLE", table)
    settings = SharedBudget(daily_quota=100, daily_remaining_header="X-Daily-Remaining")
    budget = RateBudget(requests_per_second=1000, burst=100, shared=settings)
    with StubServer(lambda r: reply({"data": []}, X_Daily_Remaining="5")) as server:
        catalog = stub_catalog(server.url, rate_limit=budget)
        client = SaasClient(catalog, Credentials({"apiKey": uuid.uuid4().hex}))
        assert isinstance(client.rate_limiter.bucket, DynamoBudget)
        client.rate_limiter.bucket.admit_scan()
        client.request("GET", "/v1/things")
        with pytest.raises(QuotaExhaustedError, match="95 of this credential's daily quota of 100"):
            client.rate_limiter.bucket.admit_scan()


def test_usage_records_add_up_per_query(table):
    pk = tenant()
    budget = DynamoBudget(BucketTable(table, pk), 10, 10, SharedBudget())
    budget.record_usage("athena", "q-1", {"requests": 3, "retries": 1, "throttled": 1})
    budget.record_usage("athena", "q-1", {"requests": 2, "retries": 0, "throttled": 0})
    budget.record_usage("appflow", "exec-9", {"requests": 7, "retries": 0, "throttled": 0})
    runs = read_tenant(table, pk).usage
    by_id = {r.run_id: r for r in runs}
    assert (by_id["q-1"].requests, by_id["q-1"].retries, by_id["q-1"].throttled, by_id["q-1"].invocations) == (5, 1, 1, 2)
    assert by_id["exec-9"].kind == "appflow" and by_id["exec-9"].requests == 7


def test_an_unreachable_table_falls_back_once_and_never_fails(aws_env, caplog):
    budget = DynamoBudget(BucketTable("no-such-table", tenant()), 10, 5, SharedBudget(daily_quota=10))
    with caplog.at_level(logging.WARNING, logger="saasbridge.client.budget"):
        waits = [budget.reserve() for _ in range(7)]
        budget.admit_scan()
        budget.record_usage("athena", "q", {"requests": 1})
    assert waits == pytest.approx([0, 0, 0, 0, 0, 0.1, 0.2], abs=0.02)  # the in-process bucket's pace
    warnings = [r for r in caplog.records if r.name == "saasbridge.client.budget"]
    assert len(warnings) == 1 and "no-such-table" in warnings[0].getMessage()


def test_the_table_is_chosen_by_env_or_catalog_and_keyed_by_catalog_and_credential(table, monkeypatch):
    shared = RateBudget(shared=SharedBudget(table="from-catalog"))
    assert budget_table(RateBudget(), {}) is None
    assert budget_table(shared, {}) == "from-catalog"
    assert budget_table(shared, {"SAASBRIDGE_BUDGET_TABLE": "from-env"}) == "from-env"
    assert isinstance(make_budget(RateBudget(), catalog="crm", identity="x", table=None), TokenBucket)
    monkeypatch.setenv("SAASBRIDGE_BUDGET_TABLE", table)
    key = uuid.uuid4().hex
    catalog = stub_catalog("http://127.0.0.1:9")
    a = SaasClient(catalog, Credentials({"apiKey": key}))
    b = SaasClient(catalog, Credentials({"apiKey": key + "2"}))
    assert isinstance(a.rate_limiter, RateLimiter) and a.rate_limiter.bucket.table.pk != b.rate_limiter.bucket.table.pk
    assert a.rate_limiter.bucket.table.pk.startswith(f"{catalog.name}#") and key not in a.rate_limiter.bucket.table.pk


def test_default_lease_is_a_tenth_of_a_second_within_half_the_burst():
    assert default_lease(10, 10) == 1
    assert default_lease(100, 100) == 10
    assert default_lease(100, 4) == 2
    assert default_lease(0.5, 1) == 1


def test_each_invocation_reports_its_usage_to_emf_and_its_run_record(table, monkeypatch, capsys):
    """Two invocations of one flow run on a long-lived client: EMF with the run id per invocation
    (the stand-in's own request count), and the run's record sums them."""
    import json as _json

    from saasbridge.client.stats import UsageMeter
    from saasbridge.telemetry import report

    monkeypatch.setenv("SAASBRIDGE_BUDGET_TABLE", table)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "saasbridge-appflow")  # EMF goes to stdout
    with StubServer(lambda r: reply({"data": []})) as server:
        client = SaasClient(stub_catalog(server.url), Credentials({"apiKey": uuid.uuid4().hex}))
        client.request("GET", "/v1/things")  # before the run: not the run's
        counts = []
        for n in (3, 2):
            before = len(server.requests)
            with UsageMeter() as meter:
                meter.watch(client)
                for _ in range(n):
                    client.request("GET", "/v1/things")
            report("appflow", "QueryDataRequest", meter, run_id=("executionId", "exec-1"))
            counts.append(len(server.requests) - before)
    emf = [_json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [(e["executionId"], e["ApiRequests"], e["service"]) for e in emf] == [
        ("exec-1", [float(n)], "saasbridge-appflow") for n in counts]
    (run,) = read_tenant(table, client.rate_limiter.bucket.table.pk).usage
    assert (run.kind, run.run_id, run.requests, run.invocations) == ("appflow", "exec-1", sum(counts), 2)


def test_budget_init_command_creates_the_table_once(aws_env, capsys):
    from saasbridge.cli import main

    name = f"budget-cli-{uuid.uuid4().hex[:6]}"
    assert main(["budget", "init", "--table", name]) == 0
    assert main(["budget", "init", "--table", name]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"table {name} created") and out[1].startswith(f"table {name} already exists")


def test_budget_show_without_a_table_says_how_to_name_one(monkeypatch, capsys):
    from saasbridge.cli import main

    monkeypatch.delenv("SAASBRIDGE_BUDGET_TABLE", raising=False)
    assert main(["budget", "show"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "pass --table NAME or set SAASBRIDGE_BUDGET_TABLE" in line
