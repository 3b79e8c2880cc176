"""One API budget across processes: reader processes (and the real CLI) against the reference API
at a low rate limit, the moto server's DynamoDB between them. The API logs when each request
arrived (`--request-log`), so the pace is measured where it counts; rows are compared with the
API's own database."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bench.shared_budget import arrivals as log_arrivals
from bench.shared_budget import worst_window_excess
from bench.split_reader import budget_catalog
from saasbridge.client.budget.admin import create_table, read_tenant
from saasbridge.client.budget.dynamodb import tenant_key
from saasbridge.client.credentials import credentials_from_env

ROOT = Path(__file__).resolve().parent.parent
API_RATE = 25  # the reference API's limit (its bucket holds as much)
RATE, BURST, LEASE = 20.0, 5, 2  # the catalog's budget: a little below the API's, as docs/catalog.md advises
PAGE = 5  # records per request: several requests from a small table
API_KEY = "demo-acme-key"
TENANT = "acme"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from saasbridge.local.processes import start_reference_api

    log = tmp_path_factory.mktemp("api") / "requests.log"
    with start_reference_api(scale=0.02, seed=7, rate_limit=API_RATE, request_log=log) as server:
        server.request_log = log  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def table(aws_env) -> str:
    name = f"budget-{uuid.uuid4().hex[:8]}"
    create_table(name)
    return name


def catalog_file(directory: Path, **shared: object) -> Path:
    """The demo catalog with this test's budget (and shared settings) and small pages."""
    return budget_catalog(directory, f"catalog-{uuid.uuid4().hex[:6]}", rate=RATE, burst=BURST, page=PAGE,
                          lease=LEASE, **shared)


def expected_ids(api) -> list[str]:
    with sqlite3.connect(f"file:{api.db_path}?mode=ro", uri=True) as conn:
        return sorted(row[0] for row in conn.execute("SELECT id FROM accounts WHERE tenant = ?", (TENANT,)))


def arrivals(api, since: float) -> list[tuple[float, int]]:
    """(arrival time, status) of the tenant's requests since `since`, from the API's request log."""
    return log_arrivals(api.request_log, since)


def run_env(api, catalog: Path, table: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAASBRIDGE_")}
    env.update(SAASBRIDGE_CATALOG=str(catalog), SAASBRIDGE_API_URL=api.url, SAASBRIDGE_API_KEY=API_KEY,
               PYTHONPATH=str(ROOT))
    if table:
        env["SAASBRIDGE_BUDGET_TABLE"] = table
    return env


class Readers:
    """Reader processes (bench/split_reader.py) started together, released by one go file."""

    def __init__(self, count: int, env: dict[str, str], tmp: Path, page: int = PAGE):
        self.go = tmp / f"go-{uuid.uuid4().hex[:6]}"
        args = [sys.executable, "-m", "bench.split_reader", "accounts", str(page), str(self.go)]
        self.procs = [
            subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
            for _ in range(count)
        ]
        self.consumed: dict[int, list[str]] = {}
        for p in self.procs:
            line = p.stdout.readline().strip()
            assert line == "ready", f"reader did not start: {line!r} {p.stderr.read() if p.poll() is not None else ''}"

    def read_ids(self, index: int, count: int) -> None:
        """Wait until process `index` has printed `count` ids (kept for `finish`)."""
        lines = self.consumed.setdefault(index, [])
        for _ in range(count):
            line = self.procs[index].stdout.readline()
            assert line, self.procs[index].stderr.read()
            lines.append(line.strip())

    def start(self) -> float:
        time.sleep(1.2)  # the API's bucket refills from the previous test
        since = time.time()
        self.go.touch()
        return since

    def finish(self, timeout: float = 60) -> list[tuple[list[str], str, str]]:
        """(ids, done line, stderr) per process that was not killed."""
        results = []
        for i, p in enumerate(self.procs):
            out, err = p.communicate(timeout=timeout)
            if p.returncode == -signal.SIGKILL:
                continue
            assert p.returncode == 0, err
            lines = self.consumed.get(i, []) + out.splitlines()
            assert lines[-1].startswith("done "), lines[-3:]
            results.append((lines[:-1], lines[-1], err))
        return results

    def kill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def readers():
    started: list[Readers] = []

    def make(*args, **kwargs) -> Readers:
        r = Readers(*args, **kwargs)
        started.append(r)
        return r

    yield make
    for r in started:
        r.kill_all()


def bucket_of(table: str, catalog_name: str = "crm"):
    identity = credentials_from_env({"SAASBRIDGE_API_KEY": API_KEY}).identity()
    return read_tenant(table, tenant_key(catalog_name, identity))


def check_rows(results, api) -> None:
    want = expected_ids(api)
    for ids, _, _ in results:
        assert sorted(ids) == want  # every row once: none lost, none duplicated


def test_four_processes_keep_one_pace_with_the_shared_table(api, table, readers, tmp_path):
    group = readers(4, run_env(api, catalog_file(tmp_path), table), tmp_path)
    since = group.start()
    results = group.finish()
    check_rows(results, api)
    seen = arrivals(api, since)
    throttled = sum(1 for _, status in seen if status == 429)
    assert throttled <= 3
    assert worst_window_excess([t for t, _ in seen], RATE, BURST) <= 0
    bucket = bucket_of(table).bucket
    local = sum(json.loads(done[5:])["local_tokens"] for _, done, _ in results)
    # every token taken was a request or was given back; `local`: tokens a process took from its
    # own bucket after losing the race for the table too often
    assert bucket.granted - bucket.returned + local == len(seen)
    assert local <= 3


def test_per_process_buckets_alone_overshoot_and_draw_429s(api, readers, tmp_path):
    """The control: the same load without the table spends several times the budget at once,
    until the API pushes back. How many 429s that costs depends on the API: the reference API's
    X-RateLimit headers stop each process after its first ones (`make bench` counts them)."""
    group = readers(4, run_env(api, catalog_file(tmp_path), None), tmp_path)
    since = group.start()
    results = group.finish()
    check_rows(results, api)
    seen = arrivals(api, since)
    assert worst_window_excess([t for t, _ in seen], RATE, BURST) > 10  # the budget overspent at once


def test_a_process_killed_mid_lease_loses_at_most_one_lease(api, table, readers, tmp_path):
    group = readers(4, run_env(api, catalog_file(tmp_path), table), tmp_path, page=2)
    since = group.start()
    group.read_ids(0, 6)  # a few pages in: it holds a lease
    group.procs[0].send_signal(signal.SIGKILL)
    results = group.finish()
    assert len(results) == 3
    check_rows(results, api)
    seen = arrivals(api, since)
    bucket = bucket_of(table).bucket
    lost = bucket.granted - bucket.returned - len(seen)
    # its lease, and the token of the request it was sending when killed (taken, never arrived)
    assert 0 <= lost <= LEASE + 1


def test_the_table_disappearing_mid_run_falls_back_without_losing_a_row(api, table, readers, tmp_path):
    import boto3

    group = readers(4, run_env(api, catalog_file(tmp_path), table), tmp_path, page=2)
    group.start()
    group.read_ids(0, 4)
    boto3.client("dynamodb").delete_table(TableName=table)
    results = group.finish()
    check_rows(results, api)
    for _, _, err in results:
        warnings = [line for line in err.splitlines() if "shared rate budget table" in line]
        assert len(warnings) <= 1  # said once per process, if the process needed the table again
    assert any("unreachable" in err for _, _, err in results)


def test_sql_honours_the_table_its_quota_and_accounts_per_query(api, table, tmp_path):
    """`saasbridge sql` through the Athena connector: a scan admitted below the quota's share
    finishes past it; the next scan is refused in one line; `budget show` lists the query."""
    from saasbridge.client.budget.dynamodb import BucketTable, period_keys

    quota = 100
    catalog = catalog_file(tmp_path, daily_quota=quota, refuse_at=0.8)
    env = run_env(api, catalog, table)
    identity = credentials_from_env({"SAASBRIDGE_API_KEY": API_KEY}).identity()
    day, resets = period_keys(time.time())["day"]
    BucketTable(table, tenant_key("crm", identity)).count("day", day, 75, expires=resets.timestamp())  # spent today
    time.sleep(1.2)
    since = time.time()
    sql = [sys.executable, "-m", "saasbridge", "sql", "SELECT id FROM crm.accounts", "--format", "csv"]
    first = subprocess.run(sql, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert first.returncode == 0, first.stderr
    assert sorted(row["id"] for row in csv.DictReader(io.StringIO(first.stdout))) == expected_ids(api)
    requests = len(arrivals(api, since))
    assert 75 + requests > 0.8 * quota  # the running scan went past the share and finished
    seen = bucket_of(table)
    assert seen.counts == {f"day#{day}": 75 + requests}
    assert [(r.kind, r.requests) for r in seen.usage] == [("athena", requests)]

    second = subprocess.run(sql, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert second.returncode == 1
    message = second.stderr.strip().splitlines()[-1]
    left = quota - 75 - requests
    assert f"{75 + requests} of this credential's daily quota of {quota} API requests are used" in message
    assert f"{left} left" in message and "resets at" in message and "UTC" in message
    assert len(arrivals(api, since)) == requests  # the refused scan sent nothing

    shown = subprocess.run([sys.executable, "-m", "saasbridge", "budget", "show"], capture_output=True,
                           text=True, env=env, cwd=ROOT, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert f"requests today: {75 + requests} of {quota}" in shown.stdout
    row = next(line for line in shown.stdout.splitlines() if line.startswith("athena"))
    assert row.split()[2] == str(requests)
    assert API_KEY not in shown.stdout


def test_two_extracts_at_once_share_the_table_and_the_profile_secret(api, table, tmp_path):
    env = run_env(api, catalog_file(tmp_path), table)
    outs = [tmp_path / "a", tmp_path / "b"]
    cmd = [sys.executable, "-m", "saasbridge", "extract", "accounts", "--format", "csv", "--no-progress", "--to"]
    procs = [subprocess.Popen([*cmd, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=ROOT) for out in outs]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    for out in outs:
        ids = []
        for part in sorted(out.rglob("*.csv")):
            ids += part.read_text().splitlines()[1:]
        assert sorted(i.split(",")[0] for i in ids) == expected_ids(api)
    runs = bucket_of(table).usage
    assert len([r for r in runs if r.kind == "appflow"]) == 2  # one record per flow execution


def test_extract_refuses_a_new_flow_once_the_quota_share_is_spent(api, table, tmp_path):
    from saasbridge.client.budget.dynamodb import BucketTable, period_keys

    env = run_env(api, catalog_file(tmp_path, daily_quota=100, refuse_at=0.8), table)
    identity = credentials_from_env({"SAASBRIDGE_API_KEY": API_KEY}).identity()
    day, resets = period_keys(time.time())["day"]
    BucketTable(table, tenant_key("crm", identity)).count("day", day, 90, expires=resets.timestamp())
    since = time.time()
    cmd = [sys.executable, "-m", "saasbridge", "extract", "accounts", "--no-progress", "--to", str(tmp_path / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode != 0
    (line,) = [x for x in done.stderr.splitlines() if "new scans are refused" in x]
    checks = len(arrivals(api, since))  # the profile's credential check before the flow reads
    used, left = (int(x) for x in re.search(r"(\d+) of this credential's daily quota of 100 .* (\d+) left", line).groups())
    # counted: the 90, the checks, and the rest of the lease they came from (given back at exit)
    assert 90 + checks <= used <= 90 + checks + LEASE - 1 and left == 100 - used
    assert "resets at" in line and "ClientError" in line  # a flow failed, not retried for hours
    assert not list((tmp_path / "out").rglob("part-*"))
