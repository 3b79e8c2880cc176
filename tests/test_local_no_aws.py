"""`saasbridge extract` and `saasbridge sql` on a laptop with no AWS set up: the profile secret and
the spill objects live in a throwaway local AWS stand-in for the run, and the output equals the
API's own data."""

from __future__ import annotations

import pyarrow.parquet as pq

from demo_saas import dump_records
from saasbridge.cli import main


def _no_aws(monkeypatch, tmp_path) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                 "AWS_PROFILE", "spill_bucket"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")


def test_extract_to_a_directory_needs_no_aws(reference_api, monkeypatch, tmp_path, capsys):
    _no_aws(monkeypatch, tmp_path)
    code = main(["extract", "deals", "--to", str(tmp_path / "out"), "--api-url", reference_api.url,
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    files = sorted((tmp_path / "out").rglob("*.parquet"))
    ids = sorted(i for f in files for i in pq.read_table(f, columns=["id"]).column("id").to_pylist())
    assert ids == [r["id"] for r in dump_records(reference_api.db_path, "acme", "deals")]


def test_aws_client_errors_are_one_line(reference_api, monkeypatch, tmp_path, capsys):
    for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    code = main(["extract", "deals", "--to", "s3://some-bucket/x", "--api-url", reference_api.url,
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and err.startswith("saasbridge: error:"), err
    assert "region" in err.lower()


def test_sql_spills_locally_without_aws(reference_api, monkeypatch, tmp_path, capsys):
    from athena_connector.handler import reset_container

    _no_aws(monkeypatch, tmp_path)
    reset_container()
    out = tmp_path / "calls.csv"
    code = main(["sql", "SELECT id FROM crm.events WHERE type = 'call'", "--api-url", reference_api.url,
                 "--max-inline-block-size", "1000", "--format", "csv", "--output", str(out)])
    reset_container()
    assert code == 0, capsys.readouterr().err
    assert "spilled" in capsys.readouterr().err
    got = sorted(line.strip('"') for line in out.read_text().split()[1:])
    want = sorted(r["id"] for r in dump_records(reference_api.db_path, "acme", "events") if r["type"] == "call")
    assert got == want
