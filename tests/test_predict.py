"""`saasbridge predict`: a real model (examples/train.py on an extract of the reference API) scores
the reference API's rows; the predictions written into the SaaS are compared, through the API, with
the model's own predictions computed in this process for the same rows (every row exactly once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests

from appflow_connector import session
from demo_saas.store import dump_records
from saasbridge.cli import main

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ["employees", "annual_revenue"]
WHERE = "country in ('DE', 'FR', 'US')"


@pytest.fixture(autouse=True)
def fresh_session():
    session.reset()
    yield
    session.reset()


@pytest.fixture(scope="module")
def api():
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.05, seed=16, rate_limit=2000) as server:
        yield server


@pytest.fixture
def env(aws_env, api, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    monkeypatch.setenv("SAASBRIDGE_API_URL", api.url)
    return aws_env


@pytest.fixture(scope="module")
def trained(api, moto_server, tmp_path_factory):
    """examples/train.py fitted on an extract of accounts (target is_active), as SageMaker runs it."""
    tmp = tmp_path_factory.mktemp("trained")
    env = {**os.environ, "SAASBRIDGE_API_KEY": "demo-acme-key", "AWS_ENDPOINT_URL": moto_server.url,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    extract = [sys.executable, "-m", "saasbridge", "extract", "accounts", "--to", str(tmp / "out"), "--flow-name",
               "a", "--fields", ",".join([*FEATURES, "is_active"]), "--for-training", "is_active", "--api-url",
               api.url, "--no-progress"]  # fmt: skip
    subprocess.run(extract, env=env, check=True, capture_output=True, timeout=120)
    [run_dir] = (tmp / "out" / "a" / "_training").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [c["name"] for c in manifest["columns"]][1:] == FEATURES  # target first, then the features
    model_dir = tmp / "model"
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train.py"), "--train", str(run_dir / "train"),
         "--model-dir", str(model_dir)], check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    from saasbridge.local.sagemaker.archive import pack_model_dir

    archive = tmp / "model.tar.gz"
    archive.write_bytes(pack_model_dir(model_dir))
    return model_dir, archive


def expected_scores(api, model_dir: Path, where=lambda r: r["country"] in ("DE", "FR", "US")) -> dict[str, float]:
    """The model's own predictions (its joblib pipeline, trusted: we trained it) for the rows the
    filter selects, computed from the reference API's own data."""
    import joblib

    rows = [r for r in dump_records(api.db_path, "acme", "accounts") if where(r)]
    x = np.array([[np.nan if r[f] is None else float(r[f]) for f in FEATURES] for r in rows])
    scores = joblib.load(model_dir / "model.joblib").predict_proba(x)[:, 1]
    return {r["id"]: float(s) for r, s in zip(rows, scores, strict=True)}


def written(api, model: str) -> list[dict]:
    """Every prediction of `model`, read back through the reference API."""
    out, cursor = [], None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{api.url}/v1/predictions", params=params, timeout=30,
                            headers={"Authorization": "Bearer demo-acme-key"}).json()  # fmt: skip
        out.extend(p for p in page["data"] if p["model"] == model)
        cursor = page.get("next_cursor")
        if not cursor:
            return out


def assert_exactly(api, model: str, expected: dict[str, float], *, atol: float, endpoint: str | None = None):
    got = written(api, model)
    ids = [p["entity_id"] for p in got]
    assert len(ids) == len(set(ids)), "a row was predicted twice"
    assert set(ids) == set(expected), "rows missing or extra"
    for p in got:
        assert p["entity_type"] == "accounts" and p["endpoint"] == endpoint and p["predicted_at"]
        assert abs(p["score"] - expected[p["entity_id"]]) <= atol, p


def test_imported_onnx_model_scores_in_process_and_a_rerun_does_not_duplicate(api, env, trained, tmp_path, capsys):
    model_dir, archive = trained
    assert main(["models", "import", str(archive), "--to", str(tmp_path / "store"), "--name", "churn-onnx"]) == 0
    args = ["predict", "accounts", "--model", str(tmp_path / "store" / "churn-onnx"), "--features",
            ",".join(FEATURES), "--where", WHERE, "--no-progress"]  # fmt: skip
    expected = expected_scores(api, model_dir)
    assert main(args) == 0
    out = capsys.readouterr().out
    n = len(expected)
    assert f"{n} rows read, {n} predicted, {n} written to predictions, 0 failed" in out
    assert_exactly(api, "churn-onnx", expected, atol=1e-6)
    before = {p["id"]: p for p in written(api, "churn-onnx")}
    assert main(args) == 0
    after = {p["id"]: p for p in written(api, "churn-onnx")}
    assert after.keys() == before.keys()
    assert all(after[k]["score"] == before[k]["score"] for k in after)
