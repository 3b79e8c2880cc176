"""Production behaviour of the reference API (rate limit, injected faults) and the process helpers
that run it and the moto server."""

from __future__ import annotations

import os
import socket
import time

import pytest
import requests

from demo_saas import dump_records
from demo_saas.faults import FaultInjector
from saasbridge.errors import SaasBridgeError
from saasbridge.local.processes import start_moto_server, start_reference_api

ACME = {"Authorization": "Bearer demo-acme-key"}
GLOBEX = {"Authorization": "Bearer demo-globex-key"}


def outcome(url: str) -> str:
    """One request on a fresh connection: the status code, or "drop" when the server hung up."""
    try:
        response = requests.get(url, headers=ACME, timeout=10)
    except requests.ConnectionError:
        return "drop"
    if response.status_code == 503:
        assert response.headers["Retry-After"] == "1"
    if response.status_code >= 500:
        assert response.json()["error"]["code"] in ("internal_error", "unavailable")
    return str(response.status_code)


def test_rate_limit_429_with_retry_after_and_headers_per_tenant():
    with start_reference_api(scale=0.01, rate_limit=3) as api:
        statuses, limited = [], None
        with requests.Session() as session:
            for _ in range(30):
                response = session.get(api.url + "/v1/accounts", params={"limit": 1}, headers=ACME, timeout=10)
                for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
                    assert header in response.headers
                assert response.headers["X-RateLimit-Limit"] == "3"
                statuses.append(response.status_code)
                if response.status_code == 429:
                    limited = response
                    break
            assert limited is not None, statuses
            assert statuses[:3] == [200, 200, 200]  # the burst is the limit
            assert int(limited.headers["Retry-After"]) >= 1
            assert limited.headers["X-RateLimit-Remaining"] == "0"
            assert limited.json()["error"]["code"] == "rate_limited"
            # another tenant has its own bucket
            assert session.get(api.url + "/v1/accounts", headers=GLOBEX, timeout=10).status_code == 200
            time.sleep(int(limited.headers["Retry-After"]))
            assert session.get(api.url + "/v1/accounts", headers=ACME, timeout=10).status_code == 200


def test_fail_rate_gives_500_503_and_dropped_connections_reproducibly_for_a_seed():
    runs = []
    for _ in range(2):
        with start_reference_api(scale=0.01, seed=5, rate_limit=0, fail_rate=0.5) as api:
            runs.append([outcome(api.url + "/v1/contacts?limit=5") for _ in range(60)])
    assert runs[0] == runs[1]  # same seed, same sequence
    assert {"200", "500", "503", "drop"} <= set(runs[0])
    assert set(runs[0]) <= {"200", "500", "503", "drop"}
    assert 0.2 < runs[0].count("200") / 60 < 0.8


def test_fault_streams_depend_on_seed_and_tenant():
    def draws(seed: int, tenant: str) -> list:
        injector = FaultInjector(seed, 0.5)
        return [injector.draw(tenant) for _ in range(40)]

    assert draws(5, "acme") == draws(5, "acme")
    assert draws(5, "acme") != draws(6, "acme")
    assert draws(5, "acme") != draws(5, "globex")
    never = FaultInjector(5, 0.0)
    assert {never.draw("acme") for _ in range(50)} == {None}


def test_no_faults_outside_v1_and_health_without_auth():
    with start_reference_api(scale=0.01, fail_rate=1.0) as api:
        assert requests.get(api.url + "/healthz", timeout=10).status_code == 200
        assert requests.get(api.url + "/openapi.json", timeout=10).status_code == 200
        assert outcome(api.url + "/v1/accounts") in ("500", "503", "drop")


def test_db_path_persists_across_restarts_and_rejects_other_settings(tmp_path):
    db = tmp_path / "api.sqlite"
    with start_reference_api(scale=0.01, seed=3, db_path=db) as api:
        assert api.db_path == db
        response = requests.patch(api.url + "/v1/accounts/acc_000001", json={"name": "Kept"}, headers=ACME, timeout=10)
        assert response.status_code == 200
    assert db.exists()
    with start_reference_api(scale=0.01, seed=3, db_path=db) as api:
        assert requests.get(api.url + "/v1/accounts/acc_000001", headers=ACME, timeout=10).json()["name"] == "Kept"
    assert dump_records(db, "acme", "accounts")[0]["name"] == "Kept"
    with pytest.raises(SaasBridgeError, match=r"seed=3.*--db"):
        start_reference_api(scale=0.01, seed=4, db_path=db)


def test_stop_ends_the_process_and_removes_temporary_files():
    api = start_reference_api(scale=0.01)
    pid, db = api.process.pid, api.db_path
    assert db.exists()
    api.stop()
    api.stop()  # idempotent
    assert api.process.poll() is not None
    assert not db.parent.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(api.url + "/healthz", timeout=2)


def test_port_in_use_is_a_clear_error():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        with pytest.raises(SaasBridgeError, match=f"cannot listen on 127.0.0.1:{port}"):
            start_reference_api(scale=0.01, port=port)


def test_moto_server_serves_s3_and_stops(moto_server):
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=moto_server.url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="probe")
    s3.put_object(Bucket="probe", Key="k", Body=b"v")
    assert s3.get_object(Bucket="probe", Key="k")["Body"].read() == b"v"
    own = start_moto_server()
    with own:
        assert requests.get(own.url + "/moto-api/", timeout=10).status_code == 200
    assert own.process.poll() is not None
