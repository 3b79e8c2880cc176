"""The demo's inference section: examples/train.py fitted on an extract of accounts, deployed to
the SageMaker stand-in, a real-time scoring run writing predictions into the SaaS, and SQL over
them — train, deploy, predict, query in a few seconds."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from saasbridge.local.env import temporary_env

FEATURES = ["employees", "annual_revenue"]
WHERE = "country = 'DE' and employees > 1000"
ENDPOINT = "demo-churn"
TRAIN_SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "train.py"


def run(ctx) -> None:
    if not TRAIN_SCRIPT.is_file():  # an installed package without the examples
        return
    from saasbridge.local.sagemaker.standin import start_sagemaker_standin

    ctx.heading("Inference: train, deploy to the SageMaker stand-in, predict, query the predictions")
    with tempfile.TemporaryDirectory(prefix="saasbridge-demo-model-") as tmp, temporary_env(**ctx.env()):
        model_dir = _train(ctx, Path(tmp))
        with start_sagemaker_standin(ctx.s3_url) as standin, temporary_env(AWS_ENDPOINT_URL=standin.url):
            _deploy(ctx, model_dir)
            _predict(ctx)
        _query(ctx)


def _train(ctx, tmp: Path) -> Path:
    from saasbridge.local.flow_runner import ExtractOptions, run_extract

    extract = run_extract(ExtractOptions(
        "accounts", str(tmp / "extract"), fields=[*FEATURES, "is_active"], for_training="is_active",
        api_url=ctx.api_url, progress=False, flow_name="demo-accounts", format="csv",
    ))  # fmt: skip
    channels = Path(extract.training_manifest_uri).parent
    model_dir = tmp / "model"
    done = subprocess.run([sys.executable, str(TRAIN_SCRIPT), "--train", str(channels / "train"), "--model-dir",
                           str(model_dir)], capture_output=True, text=True, check=True)  # fmt: skip
    metrics = json.loads(done.stdout.strip().splitlines()[-1])
    ctx.say(f"examples/train.py on {metrics['train_rows']} of {extract.records} accounts (target is_active, features "
            f"{', '.join(FEATURES)}): train accuracy {metrics['train_accuracy']:.3f}")  # fmt: skip
    return model_dir


def _deploy(ctx, model_dir: Path) -> None:
    import boto3

    from saasbridge.local.sagemaker.sdk_deploy import deploy_endpoint, upload_model

    s3 = boto3.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket="saasbridge-demo-models")
    url = upload_model(model_dir, "s3://saasbridge-demo-models/churn/model.tar.gz", s3)
    deploy_endpoint(ENDPOINT, url, boto3.client("sagemaker"))
    ctx.say(f"model.tar.gz → S3 stand-in; CreateModel, CreateEndpointConfig, CreateEndpoint {ENDPOINT}: InService")


def _predict(ctx) -> None:
    import boto3

    from saasbridge.sagemaker.inference import PredictOptions, RealtimeScorer, describe_endpoint, predict

    ctx.say(f'saasbridge predict accounts --endpoint {ENDPOINT} --features {",".join(FEATURES)} --where "{WHERE}"')
    session = boto3.Session()
    scorer = RealtimeScorer(session, describe_endpoint(session, ENDPOINT))
    result = predict(PredictOptions("accounts", FEATURES, where=WHERE, progress=False), scorer)
    ctx.say(result.summary())


def _query(ctx) -> None:
    from saasbridge.local.engine import Engine, run_sql

    sql = ("SELECT p.entity_id, a.name, a.employees, round(p.score, 3) AS score FROM crm.predictions p "
           "JOIN crm.accounts a ON a.id = p.entity_id WHERE p.model = 'demo-churn' ORDER BY p.score DESC LIMIT 5")
    ctx.say(sql)
    result = run_sql(Engine(), sql)
    ctx.table(result.table.column_names, [list(r.values()) for r in result.table.to_pylist()])
