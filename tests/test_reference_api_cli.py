"""`saasbridge api serve` (flags, banner, clean stop) and the tour's `api` section."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from demo_saas import dump_records
from saasbridge.local.tour import TourContext, run_sections


def saasbridge(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "saasbridge", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--scale", "-1"], "--scale must be >= 0"),
        (["--fail-rate", "1.5"], "--fail-rate must be between 0 and 1"),
        (["--rate-limit", "-3"], "--rate-limit must be >= 0"),
        (["--port", "70000"], "--port must be 0-65535"),
        (["--latency-ms", "-1"], "--latency-ms must be >= 0"),
    ],
)
def test_bad_flags_are_one_line_errors(flags, message):
    result = saasbridge("api", "serve", *flags)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_one_line_error(reference_api):
    result = saasbridge("api", "serve", "--port", str(reference_api.port), "--scale", "0.01")
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{reference_api.port}" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_serve_prints_url_and_credentials_then_stops_cleanly_on_ctrl_c():
    before = set(Path(tempfile.gettempdir()).glob("saasbridge-api-*"))
    process = subprocess.Popen(
        [sys.executable, "-m", "saasbridge", "api", "serve", "--port", "0", "--scale", "0.01"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        banner = [process.stdout.readline() for _ in range(5)]
        url = re.search(r"on (http://127\.0\.0\.1:\d+)", banner[0]).group(1)
        text = "".join(banner)
        for credential in ("demo-acme-key", "demo-globex-key", "demo-acme-client", "demo-acme-secret"):
            assert credential in text
        response = requests.get(url + "/v1/deals", headers={"Authorization": "Bearer demo-globex-key"}, timeout=30)
        assert response.status_code == 200 and len(response.json()["data"]) == 50
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    assert set(Path(tempfile.gettempdir()).glob("saasbridge-api-*")) <= before  # its temporary database is gone


def test_tour_api_section_counts_every_row(reference_api, capsys):
    ctx = TourContext(api_url=reference_api.url, api_key="demo-acme-key", s3_url="http://unused", _console=False)
    assert run_sections(ctx, order=("api", "no_such_section")) == ["api"]
    out = capsys.readouterr().out
    for entity in ("accounts", "contacts", "deals", "events"):
        rows = len(dump_records(reference_api.db_path, "acme", entity))
        assert re.search(rf"^{entity}\s+{rows:,}\s", out, re.MULTILINE), out
    first_de = next(r for r in dump_records(reference_api.db_path, "acme", "accounts") if r["country"] == "DE")
    assert first_de["id"] in out
    from saasbridge.local.engine import Engine, run_sql
    from tests.helpers import reset_connectors

    listed = re.findall(r"^(\w+)\s+[\d,]+\s+\d+\s", out.split("Entities", 1)[1].split("GET /v1/accounts", 1)[0], re.MULTILINE)
    try:
        shown = run_sql(Engine(), "SHOW TABLES IN crm").table.column("tab_name").to_pylist()
    finally:
        reset_connectors()  # the in-process connector warmed up without this test's environment
    assert sorted(listed) == sorted(shown)
