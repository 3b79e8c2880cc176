"""The demo's inference section, the ML lifecycle from the SaaS on the SageMaker stand-in: extract →
train → import into the model log → gated deploy (a test transform, an approval by command) →
predict → SQL over the predictions → a second training run, gated and deployed → `status` shows
the stale predictions → `predict --stale-only` refreshes exactly those."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from saasbridge.local.env import temporary_env

FEATURES = ["employees", "annual_revenue"]
TARGET = "is_active"
WHERE = "country in ('DE', 'FR')"
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
    """`saasbridge train accounts --target is_active --entry-point examples/train.py …`: a script-mode
    training job the stand-in runs on the extracted channels, the model made from its artifacts, both
    written into the model log; the model's archive is fetched back for the gate's expectations."""
    import boto3

    from saasbridge.local.sagemaker.model_archive import unpack_model
    from saasbridge.local.sagemaker.sdk_deploy import EXECUTION_ROLE
    from saasbridge.runtime import Runtime
    from saasbridge.s3url import parse_s3_url
    from saasbridge.sagemaker.credentials import aws_session
    from saasbridge.sagemaker.inference import Connection
    from saasbridge.sagemaker.training import ScriptJob, TrainOptions
    from saasbridge.sagemaker.training import train as run_training

    hps = " ".join(f"{k}={v}" for k, v in hyperparameters.items())
    ctx.say(f"$ saasbridge train accounts --target {TARGET} --features {','.join(FEATURES)} --entry-point "
            f"examples/train.py --hyperparameters {hps} --metric validation_accuracy=… --wait")  # fmt: skip
    script = ScriptJob(str(TRAIN_SCRIPT), hyperparameters=hyperparameters,
                       metrics={"validation_accuracy": r'"validation_accuracy": ([0-9.]+)'})  # fmt: skip
    options = TrainOptions(entity="accounts", target=TARGET, features=FEATURES, output=f"s3://{BUCKET}/training",
                           role_arn=EXECUTION_ROLE, script=script, wait=True, base_job_name=job, poll_seconds=0.2,
                           say=lambda _line: None)  # fmt: skip
    result = run_training(options, aws_session(), Runtime.from_env().client(), Connection(api_url=ctx.api_url).open())
    for line in result.summary().splitlines():
        ctx.say("  " + line)
    s3 = boto3.client("s3")
    model = boto3.client("sagemaker").describe_model(ModelName=result.model_name)
    where = parse_s3_url(model["PrimaryContainer"]["ModelDataUrl"], "the model archive")
    model_dir = unpack_model(s3.get_object(Bucket=where.bucket, Key=where.key)["Body"].read(), tmp / job)
    validation = parse_s3_url(f"s3://{BUCKET}/training/{result.job_name}/input/validation/part-00000.csv", "channel")
    rows = s3.get_object(Bucket=validation.bucket, Key=validation.key)["Body"].read().decode()
    return Trained(result.model_name, model_dir, rows)


class Trained:
    def __init__(self, name: str, model_dir: Path, validation: str):
        self.name, self.model_dir, self.validation = name, model_dir, validation

    def test_files(self) -> tuple[bytes, bytes]:
        """(test input, expected output): validation rows' features, and the model's own scores for
        them computed here (its joblib pipeline, trusted: we trained it)."""
        import joblib
        import numpy as np

        rows = [line.split(",")[1:] for line in self.validation.splitlines() if line.strip()][:TEST_ROWS]
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


