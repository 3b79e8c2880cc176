"""`saasbridge extract --for-training`: SageMaker channels and manifest from a real extract (reference
API process + moto), checked against the source rows; `examples/train.py` trains on them when run
as SageMaker runs a script-mode job (SM_* variables)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from demo_saas.store import dump_records
from saasbridge.cli import main
from saasbridge.local.flow_runner import ExtractOptions, run_extract

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("fresh_session")


@pytest.fixture(scope="module")
def api():
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.03, seed=31, rate_limit=1000) as server:
        yield server


@pytest.fixture
def env(aws_env, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    return aws_env


def in_validation(key: str, fraction: float) -> bool:
    """The documented split rule, computed independently."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) / 2**64 < fraction


def expected_rows(truth: list[dict], target: str, features: list[str]) -> dict[str, list[list[str]]]:
    """CSV rows as documented: target first, booleans 1/0, null = empty, numbers as the API sent them."""

    def cell(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "1" if v else "0"
        return str(v)

    out: dict[str, list[list[str]]] = {"train": [], "validation": []}
    for t in truth:
        if t[target] is None:
            continue
        channel = "validation" if in_validation(t["id"], 0.25) else "train"
        out[channel].append([cell(t[target]), *(cell(t[f]) for f in features)])
    return out


def test_csv_channels_and_manifest_match_the_source_rows(api, env, tmp_path):
    result = run_extract(
        ExtractOptions(
            "accounts", str(tmp_path), api_url=api.url, for_training="employees", validation_fraction=0.25,
            flow_name="acc-train",
        )
    )  # fmt: skip
    truth = dump_records(api.db_path, "acme", "accounts")
    base = tmp_path / "acc-train" / "_training" / result.execution_id
    manifest = json.loads((base / "manifest.json").read_text())
    assert [c["name"] for c in manifest["columns"]] == ["employees", "annual_revenue", "is_active"]
    assert [c["role"] for c in manifest["columns"]] == ["target", "feature", "feature"]
    want = expected_rows(truth, "employees", ["annual_revenue", "is_active"])
    for channel in ("train", "validation"):
        text = (base / channel / "part-00000.csv").read_text()
        rows = list(csv.reader(io.StringIO(text)))
        # numbers compared by value (the API may print 1200.5 where the source stores 1200.50)
        norm = [[Decimal(c) if c not in ("",) else None for c in r] for r in rows]
        assert norm == [[Decimal(c) if c != "" else None for c in r] for r in want[channel]]
        assert manifest["rows"][channel] == len(rows)
    assert want["train"] and want["validation"]
    assert manifest["rows"]["skipped_null_target"] == 0
    assert manifest["csv"] == {"header": False, "booleans": "true=1 false=0", "nulls": "empty field"}
    # the regular extract is there too, untouched by the training copy
    assert result.records == len(truth)


def test_parquet_channels_in_s3_with_nulls_and_booleans(api, env):
    s3 = boto3.client("s3", endpoint_url=env.url)
    s3.create_bucket(Bucket="training-out")
    result = run_extract(
        ExtractOptions(
            "contacts", "s3://training-out/ml", api_url=api.url, for_training="do_not_contact",
            training_format="parquet", fields=["id", "email", "lead_score"], format="csv",
        )
    )  # fmt: skip
    truth = {t["id"]: t for t in dump_records(api.db_path, "acme", "contacts")}
    prefix = f"ml/saasbridge-contacts/_training/{result.execution_id}/"
    manifest = json.loads(s3.get_object(Bucket="training-out", Key=prefix + "manifest.json")["Body"].read())
    assert [c["name"] for c in manifest["columns"]] == ["do_not_contact", "lead_score"]  # --fields respected
    seen = 0
    for channel in ("train", "validation"):
        blob = s3.get_object(Bucket="training-out", Key=f"{prefix}{channel}/part-00000.parquet")[
            "Body"
        ].read()
        table = pq.read_table(pa.BufferReader(blob))
        assert table.schema.names == ["do_not_contact", "lead_score"]
        seen += table.num_rows
        assert manifest["rows"][channel] == table.num_rows
    assert seen == len(truth)
    # the regular output keeps exactly the selected fields
    body = s3.get_object(Bucket="training-out", Key=result.files[0].removeprefix("s3://training-out/"))[
        "Body"
    ].read()
    assert body.decode().splitlines()[0] == "id,email,lead_score"


def test_train_script_runs_on_an_extract_like_a_sagemaker_job(api, env, tmp_path):
    rc = main(["extract", "contacts", "--to", str(tmp_path / "out"), "--for-training", "do_not_contact",
               "--flow-name", "c", "--api-url", api.url, "--no-progress"])  # fmt: skip
    assert rc == 0
    [run_dir] = (tmp_path / "out" / "c" / "_training").iterdir()
    model_dir, output_dir = tmp_path / "model", tmp_path / "output"
    env_vars = {**os.environ, "SM_CHANNEL_TRAIN": str(run_dir / "train"), "SM_CHANNEL_VALIDATION": str(run_dir / "validation"),
                "SM_MODEL_DIR": str(model_dir), "SM_OUTPUT_DATA_DIR": str(output_dir)}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train.py"), "--max-iter", "50"],
        env=env_vars, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    metadata = json.loads((model_dir / "model.json").read_text())
    metrics = json.loads((output_dir / "metrics.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert metadata["features"] == metrics["features"] == len(manifest["columns"]) - 1
    assert metrics["train_rows"] == manifest["rows"]["train"]
    assert metrics["validation_rows"] == manifest["rows"]["validation"]
    assert 0.0 <= metrics["validation_accuracy"] <= 1.0
    # what SageMaker packs and its scikit-learn container serves: joblib model, script under code/
    assert (model_dir / "code" / "train.py").read_text() == (ROOT / "examples" / "train.py").read_text()
    check_served_model(model_dir, run_dir / "validation" / "part-00000.csv")


def check_served_model(model_dir: Path, csv_path: Path) -> None:
    """The script's hooks score the validation rows as the fitted pipeline does, and the ONNX copy
    agrees with it within 1e-6."""
    import importlib.util

    import numpy as np
    import onnxruntime

    spec = importlib.util.spec_from_file_location("served_train", model_dir / "code" / "train.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    model = script.model_fn(str(model_dir))
    rows = [r[1:] for r in csv.reader(io.StringIO(csv_path.read_text()))]  # drop the target
    body = "".join(",".join(r) + "\n" for r in rows)
    x = np.array([[float(c) if c else np.nan for c in r] for r in rows])
    own = model.predict_proba(x)[:, 1]
    served, content_type = script.output_fn(script.predict_fn(script.input_fn(body, "text/csv"), model), "text/csv")
    assert content_type == "text/csv"
    assert [float(v) for v in served.splitlines()] == own.tolist()
    as_json, _ = script.output_fn(script.predict_fn(script.input_fn(json.dumps(
        [[None if np.isnan(v) else v for v in row] for row in x.tolist()]), "application/json"), model),
        "application/json")  # fmt: skip
    assert json.loads(as_json)["predictions"] == own.tolist()
    session = onnxruntime.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})
    probabilities = next(o for o in outputs if getattr(o, "ndim", 0) == 2)
    assert np.allclose(probabilities[:, 1], own, rtol=0, atol=1e-6)


def test_train_script_refuses_to_run_without_channels(tmp_path):
    env_vars = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "train.py")], env=env_vars,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode != 0 and "SM_CHANNEL_TRAIN" in proc.stderr


def test_a_failed_run_leaves_no_training_files(env, tmp_path):
    """Every API page outlasts a QueryData call's budget, so the run stops with an error after the
    training channels were opened: nothing of them stays in the output folder."""
    from saasbridge.drivers.appflow import FlowRunError
    from saasbridge.drivers.lambda_invoker import InProcessInvoker
    from saasbridge.local.processes import start_reference_api

    out = tmp_path / "out"
    slow_api = start_reference_api(scale=0.01, seed=31, rate_limit=1000, latency_ms=800)
    with slow_api as slow, pytest.raises(FlowRunError, match="makes no progress"):
        run_extract(ExtractOptions("accounts", str(out), api_url=slow.url, for_training="employees",
                                   flow_name="f", invoker=InProcessInvoker("appflow", timeout_seconds=3.2)))
    assert not (out / "f" / "_training").exists(), sorted(out.rglob("*"))
