"""The lifecycle on the SageMaker stand-in (models really served, test transforms really run):
the project's example model passes its own gate and is deployed after `sagemaker approve`; every
prediction records the version that made it; after a new version, `sagemaker status` counts the
stale rows and `predict --stale-only` rescores exactly those. Ground truth: the reference API's own
rows and the models' own predictions computed in this process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from demo_saas.store import dump_records
from saasbridge.cli import main
from tests.sagemaker_assets import extract_and_train

FEATURES = ["employees", "annual_revenue"]
BUCKET = "lifecycle-models"

pytestmark = pytest.mark.usefixtures("fresh_session")  # the connector's cached catalog, per test


@pytest.fixture(scope="module")
def api():
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.05, seed=21, rate_limit=2000) as server:
        yield server


@pytest.fixture
def env(sagemaker_env, api, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    monkeypatch.setenv("SAASBRIDGE_API_URL", api.url)
    import boto3

    s3 = boto3.client("s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    return sagemaker_env


@pytest.fixture(scope="module")
def models(api, moto_server, tmp_path_factory):
    """examples/train.py fitted twice on one extract of accounts (C=1 and C=0.01): two versions."""
    _run, models = extract_and_train(api.url, moto_server.url, tmp_path_factory.mktemp("lifecycle"), FEATURES,
                                     {"v1": ["--C", "1.0"], "v2": ["--C", "0.01"]})
    return models


def own_scores(model_dir: Path, rows: list[dict]) -> list[float]:
    """The model's own predictions (its joblib pipeline, trusted: we trained it)."""
    import joblib

    x = np.array([[np.nan if r[f] is None else float(r[f]) for f in FEATURES] for r in rows])
    return [float(s) for s in joblib.load(model_dir / "model.joblib").predict_proba(x)[:, 1]]


def create_model(name: str, model_dir: Path) -> str:
    """The model's archive in S3 and a SageMaker model serving it with the script's inference hooks."""
    import boto3

    from saasbridge.local.sagemaker.sdk_deploy import EXECUTION_ROLE, SKLEARN_IMAGE, upload_model

    url = upload_model(model_dir, f"s3://{BUCKET}/{name}/model.tar.gz", boto3.client("s3"))
    sm = boto3.client("sagemaker")
    sm.create_model(ModelName=name, ExecutionRoleArn=EXECUTION_ROLE, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": url,
        "Environment": {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})  # fmt: skip
    sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])  # fmt: skip
    return sm.describe_model(ModelName=name)["ModelArn"]


def _log():
    from saasbridge.runtime import Runtime
    from saasbridge.sagemaker.credentials import aws_session
    from saasbridge.sagemaker.modellog import ModelLog

    return ModelLog.open(aws_session(), Runtime.from_env().client())


def _wait_in_service(name: str) -> None:
    import boto3

    from saasbridge.sagemaker.waiting import ENDPOINT, wait_for

    waited = wait_for(boto3.client("sagemaker"), ENDPOINT, name, timeout=120, poll=0.2)
    assert waited.status == "InService", waited.description


def test_the_example_model_passes_its_own_gate_and_is_deployed_after_approve(api, env, models, capsys):
    import boto3

    from saasbridge.runtime import Runtime
    from saasbridge.sagemaker.modellog.deploy import DeployOptions, deploy
    from saasbridge.sagemaker.modellog.ids import record_id

    model_arn = create_model("lc-gate", models["v1"])
    _log().import_model("lc-gate")
    rows = dump_records(api.db_path, "acme", "accounts")[:15]
    s3 = boto3.client("s3")
    features = "".join(",".join("" if r[f] is None else str(r[f]) for f in FEATURES) + "\n" for r in rows)
    s3.put_object(Bucket=BUCKET, Key="gate/in.csv", Body=features.encode())
    s3.put_object(Bucket=BUCKET, Key="gate/expected.csv",
                  Body="".join(f"{s!r}\n" for s in own_scores(models["v1"], rows)).encode())
    runtime = Runtime.from_env()
    (ok,) = runtime.client().write(runtime.catalog.entity("models"), "update", [{
        "id": record_id(model_arn), "documentation_url": "https://example.com/m", "input_schema": "employees,revenue",
        "test_data_url": f"s3://{BUCKET}/gate/in.csv", "test_expected_url": f"s3://{BUCKET}/gate/expected.csv",
        "output_content_type": "application/jsonlines"}])  # fmt: skip
    assert ok.ok, ok.error

    options = DeployOptions("lc-gate", "lc-gate-config", endpoint="lc-gate-live", poll_seconds=0.2, job_timeout_seconds=120)
    pending = deploy(_log(), options)
    assert pending.status == "pending", pending.message
    approval = {r["id"]: r for r in dump_records(api.db_path, "acme", "approvals")}[pending.approval_id]
    test = json.loads(approval["checks"])["test"]
    assert (test["passed"], test["content_type"], test["accept"]) == (True, "text/csv", "application/jsonlines")
    # the stand-in really ran the model: its output is JSON Lines, one score per test row, the model's own
    output = s3.get_object(Bucket=BUCKET, Key=f"gate/saasbridge-test-output/{test['job']}/in.csv.out")["Body"].read()
    scores = [json.loads(line)["score"] for line in output.decode().splitlines()]
    assert np.allclose(scores, own_scores(models["v1"], rows), rtol=1e-9)

    assert main(["sagemaker", "approve", pending.approval_id, "--approve", "--by", "qa"]) == 0
    done = deploy(_log(), options)
    assert done.status == "deployed", done.message
    assert boto3.client("sagemaker").describe_endpoint(EndpointName="lc-gate-live")["EndpointStatus"] == "InService"
    capsys.readouterr()


def _predictions(api, endpoint: str) -> list[dict]:
    return [p for p in dump_records(api.db_path, "acme", "predictions") if p["endpoint"] == endpoint]


def _predict(*extra: str) -> int:
    return main(["predict", "accounts", "--endpoint", "lc-stale", "--features", ",".join(FEATURES), "--no-progress",
                 *extra])  # fmt: skip


def test_predictions_record_their_version_and_stale_only_rescores_exactly_the_stale_rows(api, env, models, capsys):
    import boto3

    sm = boto3.client("sagemaker")
    v1_arn, v2_arn = create_model("lc-v1", models["v1"]), create_model("lc-v2", models["v2"])
    sm.create_endpoint(EndpointName="lc-stale", EndpointConfigName="lc-v1-config")
    _wait_in_service("lc-stale")
    accounts = dump_records(api.db_path, "acme", "accounts")
    both = [r for r in accounts if r["country"] in ("DE", "FR")]
    german = [r for r in both if r["country"] == "DE"]
    assert german and len(german) < len(both)

    assert _predict("--where", "country in ('DE', 'FR')") == 0
    first = _predictions(api, "lc-stale")
    assert {p["entity_id"] for p in first} == {r["id"] for r in both}
    assert {p["model_version"] for p in first} == {f"{v1_arn}@lc-v1-config"}  # model ARN @ configuration

    sm.update_endpoint(EndpointName="lc-stale", EndpointConfigName="lc-v2-config")  # a new version serves
    _wait_in_service("lc-stale")
    assert _predict("--where", "country = 'DE'") == 0  # the German rows are refreshed first
    capsys.readouterr()
    assert main(["sagemaker", "status", "--model", "lc-stale"]) == 0
    stale = len(both) - len(german)
    assert capsys.readouterr().out.splitlines() == [
        f"endpoint lc-stale: serving lc-v2 (version {v2_arn}@lc-v2-config)",
        f"  accounts: {len(both)} rows predicted, {stale} from older versions",
    ]
    before = {p["id"]: p for p in _predictions(api, "lc-stale")}

    assert _predict("--where", "country in ('DE', 'FR')", "--stale-only") == 0
    summary = capsys.readouterr().out
    assert f"{len(both)} rows read, {stale} predicted, {stale} written" in summary
    assert f"{len(german)} rows up to date, not scored" in summary
    after = {p["id"]: p for p in _predictions(api, "lc-stale")}
    rescored = {p["entity_id"] for i, p in after.items() if i not in before or before[i] != p}
    assert rescored == {r["id"] for r in both if r["country"] == "FR"}  # exactly the stale rows
    v2 = {p["entity_id"]: p for p in after.values() if p["model_version"] == f"{v2_arn}@lc-v2-config"}
    assert set(v2) == {r["id"] for r in both}
    assert np.allclose([v2[r["id"]]["score"] for r in both], own_scores(models["v2"], both), rtol=1e-9)

    assert main(["sagemaker", "status", "--model", "lc-stale"]) == 0
    assert f"accounts: {len(both)} rows predicted, 0 from older versions" in capsys.readouterr().out
    assert _predict("--where", "country in ('DE', 'FR')", "--stale-only") == 0  # nothing left to score
    again = capsys.readouterr().out
    assert f"{len(both)} rows read, 0 predicted, 0 written" in again and f"{len(both)} rows up to date" in again


def test_stale_only_errors_are_one_line(api, env, models, capsys):
    assert main(["predict", "accounts", "--model", str(models["v1"]), "--features", ",".join(FEATURES),
                 "--stale-only", "--no-progress", "--trust-pickle"]) == 1  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--stale-only needs --endpoint" in err


def test_the_demo_runs_the_lifecycle(capsys):
    """`saasbridge demo`'s inference section on its own servers: two trainings, two gated deployments,
    and the stale count it shows is the number of rows it predicted (the reference API's own count)."""
    from saasbridge.local.processes import start_moto_server, start_reference_api
    from saasbridge.local.tour import TourContext, run_sections
    from saasbridge.local.tour.inference import ENDPOINT

    with start_reference_api(scale=0.1, seed=5) as api, start_moto_server() as moto:
        ctx = TourContext(api_url=api.url, api_key="demo-acme-key", s3_url=moto.url, db_path=api.db_path, _console=False)
        assert run_sections(ctx, ["inference"]) == ["inference"]
        rows = len([r for r in dump_records(api.db_path, "acme", "accounts") if r["country"] in ("DE", "FR")])
        approvals = dump_records(api.db_path, "acme", "approvals")
    out = capsys.readouterr().out
    assert out.count("test transform (JSON answers against CSV expectations) passed") == 2
    assert [a["status"] for a in approvals] == ["deployed", "deployed"]
    assert f"accounts: {rows} rows predicted, {rows} from older versions" in out
    assert f"accounts: {rows} rows predicted, 0 from older versions" in out
    assert f"endpoint {ENDPOINT} in service" in out
