"""The demo's inference section, the ML lifecycle from the SaaS on the SageMaker stand-in: extract →
train → import into the model log → gated deploy (a test transform, an approval by command) →
predict → SQL over the predictions → a second training run, gated and deployed → `status` shows
the stale predictions → `predict --stale-only` refreshes exactly those."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import tempfile
from pathlib import Path

from saasbridge.local.env import temporary_env

FEATURES = ["employees", "annual_revenue"]
TARGET = "is_active"
WHERE = "country = 'DE' and employees > 200"  # a hundred rows or so: each prediction is one write until batch upserts
ENDPOINT = "demo-churn"
BUCKET = "saasbridge-demo-models"
TRAIN_SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "train.py"
TEST_ROWS = 20  # rows of the gate's test transform


def run(ctx) -> None:
    if not TRAIN_SCRIPT.is_file():  # an installed package without the examples
        return
    from saasbridge.local.sagemaker.standin import start_sagemaker_standin

    ctx.heading("The ML lifecycle: train, log, gated deploy, predict, query, retrain, refresh what went stale")
    with (
        tempfile.TemporaryDirectory(prefix="saasbridge-demo-model-") as tmp,
        temporary_env(**ctx.env()),
        start_sagemaker_standin(ctx.s3_url) as standin,
        temporary_env(AWS_ENDPOINT_URL=standin.url),
    ):
        _bucket()
        release(ctx, train(ctx, Path(tmp), "demo-churn-1", {"C": 1.0}))
        _predict(ctx)
        _query(ctx)
        release(ctx, train(ctx, Path(tmp), "demo-churn-2", {"C": 0.01}))
        _status(ctx)
        _predict(ctx, stale_only=True)
        _status(ctx)


# -- training ------------------------------------------------------------------------------------


def train(ctx, tmp: Path, job: str, hyperparameters: dict) -> Trained:
    """A training job on an extract of accounts, and the model made from its artifacts.

    Until `saasbridge train` is on main this runs examples/train.py here, as SageMaker's
    scikit-learn container would, and records the script-mode job with the artifacts where SageMaker
    writes them (`<output>/<job>/output/model.tar.gz`), so the model log links job → model. Swap this
    function for `saasbridge train accounts --target is_active …` once the stand-in runs jobs."""
    import subprocess
    import sys

    import boto3

    from saasbridge.local.flow_runner import ExtractOptions, run_extract
    from saasbridge.local.sagemaker.model_archive import pack_model_dir
    from saasbridge.local.sagemaker.sdk_deploy import EXECUTION_ROLE, SKLEARN_IMAGE

    extract = run_extract(ExtractOptions(
        "accounts", str(tmp / job / "extract"), fields=[*FEATURES, TARGET], for_training=TARGET,
        api_url=ctx.api_url, progress=False, flow_name=job, format="csv",
    ))  # fmt: skip
    channels = Path(extract.training_manifest_uri).parent
    model_dir = tmp / job / "model"
    args = [f"--{k}={v}" for k, v in hyperparameters.items()]
    done = subprocess.run([sys.executable, str(TRAIN_SCRIPT), "--train", str(channels / "train"), "--validation",
                           str(channels / "validation"), "--model-dir", str(model_dir), *args],
                          capture_output=True, text=True, check=True)  # fmt: skip
    metrics = json.loads(done.stdout.strip().splitlines()[-1])
    s3, sm = boto3.client("s3"), boto3.client("sagemaker")
    source = _upload(s3, f"training/{job}/source/sourcedir.tar.gz", _sourcedir())
    for channel in ("train", "validation"):
        for part in sorted((channels / channel).glob("*.csv")):
            _upload(s3, f"training/{job}/input/{channel}/{part.name}", part.read_bytes())
    sm.create_training_job(
        TrainingJobName=job, RoleArn=EXECUTION_ROLE,
        AlgorithmSpecification={"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File"},
        HyperParameters={**{k: json.dumps(v) for k, v in hyperparameters.items()},
                         "sagemaker_program": json.dumps("train.py"), "sagemaker_submit_directory": json.dumps(source)},
        InputDataConfig=[{"ChannelName": c, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/training/{job}/input/{c}/"}}} for c in ("train", "validation")],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/training"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )  # fmt: skip
    artifacts = _upload(s3, f"training/{job}/output/model.tar.gz", pack_model_dir(model_dir))
    sm.create_model(ModelName=job, ExecutionRoleArn=EXECUTION_ROLE, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": artifacts,
        "Environment": {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})  # fmt: skip
    ctx.say(f"training job {job} (examples/train.py, {', '.join(f'{k}={v}' for k, v in hyperparameters.items())}) on "
            f"{metrics['train_rows']} of {extract.records} accounts: train accuracy {metrics['train_accuracy']:.3f}, "
            f"validation accuracy {metrics.get('validation_accuracy', float('nan')):.3f}; model {job}")  # fmt: skip
    return Trained(job, model_dir, channels)


class Trained:
    def __init__(self, name: str, model_dir: Path, channels: Path):
        self.name, self.model_dir, self.channels = name, model_dir, channels

    def test_files(self) -> tuple[bytes, bytes]:
        """(test input, expected output): validation rows' features, and the model's own scores for
        them computed here (its joblib pipeline, trusted: we trained it)."""
        import joblib
        import numpy as np

        lines = _lines(self.channels / "validation") or _lines(self.channels / "train")
        rows = [line.split(",")[1:] for line in lines][:TEST_ROWS]
        x = np.array([[float(c) if c.strip() else np.nan for c in row] for row in rows])
        scores = joblib.load(self.model_dir / "model.joblib").predict_proba(x)[:, 1]
        return ("".join(",".join(r) + "\n" for r in rows).encode(), "".join(f"{float(s)!r}\n" for s in scores).encode())


# -- the model log and the gate -------------------------------------------------------------------


def release(ctx, model: Trained) -> None:
    """Import the model, record what the gate checks, and deploy it on ENDPOINT behind the test
    transform and an approval given with `saasbridge sagemaker approve`."""
    import boto3

    from saasbridge.runtime import Runtime
    from saasbridge.sagemaker.credentials import aws_session
    from saasbridge.sagemaker.modellog import ModelLog
    from saasbridge.sagemaker.modellog.approvals import decide
    from saasbridge.sagemaker.modellog.deploy import DeployOptions, deploy
    from saasbridge.sagemaker.modellog.ids import record_id

    runtime = Runtime.from_env()
    log = ModelLog.open(aws_session(), runtime.client())
    ctx.say(f"$ saasbridge sagemaker import --model {model.name}")
    (model_arn,) = log.import_model(model.name).models
    ctx.say(f"  model log: {_lineage(log, model_arn)}")
    test_in, expected = model.test_files()
    fields = {
        "documentation_url": "https://example.com/models/churn", "input_schema": ",".join(FEATURES),
        "test_data_url": _upload(boto3.client("s3"), f"gate/{model.name}/in.csv", test_in),
        "test_expected_url": _upload(boto3.client("s3"), f"gate/{model.name}/expected.csv", expected),
        "input_content_type": "text/csv", "output_content_type": "application/json",
    }
    (written,) = runtime.client().write(runtime.catalog.entity("models"), "update", [{"id": record_id(model_arn), **fields}])
    if not written.ok:
        raise RuntimeError(f"recording the gate's assets failed: {written.error}")
    ctx.say(f"  recorded in the SaaS: documentation, input schema, {TEST_ROWS} test rows with the expected scores")
    config = f"{model.name}-config"
    boto3.client("sagemaker").create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model.name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])  # fmt: skip
    options = DeployOptions(model.name, config, endpoint=ENDPOINT, poll_seconds=0.2, job_timeout_seconds=300)
    ctx.say(f"$ saasbridge sagemaker deploy --model {model.name} --config {config} --endpoint {ENDPOINT}")
    pending = deploy(ModelLog.open(aws_session(), runtime.client()), options)  # reads what was just recorded
    if pending.status != "pending":
        raise RuntimeError(f"the gate did not pass: {pending.message}")
    ctx.say(f"  test transform (JSON answers against CSV expectations) passed; approval requested: "
            f"approvals/{pending.approval_id}")
    ctx.say(f'$ saasbridge sagemaker approve {pending.approval_id} --approve --comment "test passed"')
    ctx.say("  " + decide(log.writer, pending.approval_id, "approved", by="demo", comment="test passed"))
    ctx.say(f"$ saasbridge sagemaker deploy --model {model.name} --config {config} --endpoint {ENDPOINT}")
    done = deploy(ModelLog.open(aws_session(), runtime.client()), options)
    ctx.say(f"  {done.message}")
    if done.status != "deployed":
        raise RuntimeError(f"the deployment failed: {done.message}")


def _lineage(log, model_arn: str) -> str:
    """The model's record and what it links to, as the SaaS holds them."""
    from saasbridge.sagemaker.modellog.ids import record_id

    model = log.writer.current("models", record_id(model_arn)) or {}
    job = log.writer.current("ml_jobs", model["training_job_id"]) if model.get("training_job_id") else None
    version = log.writer.current("model_versions", record_id(model_arn))
    return " → ".join([f"training job {job['name']} ({job['status']})" if job else "no training job",
                       f"model {model.get('name')}", "its default version" if version else "no version yet"])


# -- helpers ---------------------------------------------------------------------------------------


def _predict(ctx, *, stale_only: bool = False) -> None:
    """`saasbridge predict` through its Python API, recording the serving version with each row."""
    from saasbridge.sagemaker.credentials import aws_session
    from saasbridge.sagemaker.inference import PredictOptions, RealtimeScorer, describe_endpoint, predict
    from saasbridge.sagemaker.inference.version import serving_version

    ctx.say(f'$ saasbridge predict accounts --endpoint {ENDPOINT} --features {",".join(FEATURES)} --where "{WHERE}"'
            + (" --stale-only" if stale_only else ""))  # fmt: skip
    session = aws_session()
    scorer = RealtimeScorer(session, describe_endpoint(session, ENDPOINT))
    scorer.version = serving_version(session, ENDPOINT)
    result = predict(PredictOptions("accounts", FEATURES, where=WHERE, progress=False, stale_only=stale_only), scorer)
    ctx.say("  " + result.summary())
    if result.failed:
        raise RuntimeError("; ".join(result.failure_lines()))


def _status(ctx) -> None:
    from saasbridge.runtime import Runtime
    from saasbridge.sagemaker.credentials import aws_session
    from saasbridge.sagemaker.modellog.status import model_status

    ctx.say(f"$ saasbridge sagemaker status --model {ENDPOINT}")
    for status in model_status(aws_session(), Runtime.from_env().client(), model=ENDPOINT):
        for line in status.lines():
            ctx.say("  " + line)


def _query(ctx) -> None:
    from saasbridge.local.engine import Engine, run_sql

    sql = ("SELECT p.entity_id, a.name, round(p.score, 3) AS score, p.model_version FROM crm.predictions p "
           f"JOIN crm.accounts a ON a.id = p.entity_id WHERE p.endpoint = '{ENDPOINT}' ORDER BY p.score DESC LIMIT 5")
    ctx.say(sql)
    result = run_sql(Engine(), sql)
    rows = [[*list(r.values())[:3], _short(r["model_version"])] for r in result.table.to_pylist()]
    ctx.table(result.table.column_names, rows)


def _short(version: str | None) -> str:
    """`arn:…:model/demo-churn-1@demo-churn-1-config` → `model/demo-churn-1@demo-churn-1-config`."""
    return (version or "").split(":", 5)[-1]


def _bucket() -> None:
    import boto3

    s3 = boto3.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)


def _upload(s3, key: str, body: bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def _sourcedir() -> bytes:
    """examples/train.py as the source tarball a script-mode job names in sagemaker_submit_directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(TRAIN_SCRIPT, arcname="train.py")
    return buffer.getvalue()


def _lines(channel: Path) -> list[str]:
    return [line for part in sorted(channel.glob("*.csv")) for line in part.read_text().splitlines() if line.strip()]
