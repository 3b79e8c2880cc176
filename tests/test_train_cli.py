"""`saasbridge train` end to end: the reference API's records → channels through the AppFlow connector →
a training (or Autopilot) job the SageMaker stand-in runs → the model → the model log in the reference
API. Ground truth: the reference API's own rows (read from its database), split and encoded here by the
documented rule, and examples/train.py run directly on them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from demo_saas.store import dump_records
from saasbridge.cli import main

ROOT = Path(__file__).resolve().parents[1]
ROLE = "arn:aws:iam::123456789012:role/saasbridge-sagemaker"
TARGET = "do_not_contact"
METRIC = "validation:accuracy=validation_accuracy=([0-9.]+)"


@pytest.fixture
def env(reference_api, sagemaker_standin, monkeypatch):
    for key, value in {"AWS_ENDPOINT_URL": sagemaker_standin.url, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                       "SAASBRIDGE_API_KEY": "demo-acme-key", "SAASBRIDGE_API_URL": reference_api.url,
                       "SAASBRIDGE_SAGEMAKER_EXECUTION_ROLE": ROLE}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    bucket = f"train-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/contacts"


def train(*args: str) -> int:
    return main(["train", "contacts", "--target", TARGET, "--poll", "0.2", "--no-progress", *args])


def expected_channels(rows: list[dict]) -> dict[str, str]:
    """The documented layout, computed here: target then lead_score, booleans 1/0, split by sha256(id)."""
    out = {"train": "", "validation": ""}
    for row in rows:
        fraction = int.from_bytes(hashlib.sha256(row["id"].encode()).digest()[:8], "big") / 2**64
        out["validation" if fraction < 0.2 else "train"] += f"{int(row[TARGET])},{row['lead_score']}\n"
    return out


def s3_text(url: str) -> str:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def model_log(reference_api, entity: str) -> list[dict]:
    return dump_records(reference_api.db_path, "acme", entity)


def test_script_mode_training_from_the_saas_end_to_end(env, reference_api, capsys, tmp_path):
    assert train("--features", "lead_score", "--where", "lead_score > 20", "--entry-point", "examples/train.py",
                 "--hyperparameters", "max-iter=50", "C=0.5", "--metric", METRIC, "--output", env, "--wait") == 0  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    job = out[0].removeprefix("job ").removesuffix(": Completed")
    assert out[0] == f"job {job}: Completed" and out[-1] == f"model {job}"

    rows = [r for r in model_log(reference_api, "contacts") if r["lead_score"] > 20]
    channels = expected_channels(rows)
    for channel, text in channels.items():  # the same lines, each once (the API's order is its own)
        assert sorted(s3_text(f"{env}/{job}/input/{channel}/part-00000.csv").splitlines()) == sorted(text.splitlines())
        (tmp_path / channel).mkdir()
        (tmp_path / channel / "part.csv").write_text(text)
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "train.py"), "--max-iter", "50", "-C", "0.5"],
                          env=dict(os.environ, SM_CHANNEL_TRAIN=str(tmp_path / "train"),
                                   SM_CHANNEL_VALIDATION=str(tmp_path / "validation"),
                                   SM_MODEL_DIR=str(tmp_path / "model")),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    accuracy = json.loads((tmp_path / "model" / "metrics.json").read_text())["validation_accuracy"]
    assert f"metric validation:accuracy = {accuracy:g}" in out

    sm = boto3.client("sagemaker")
    model = sm.describe_model(ModelName=job)
    described = sm.describe_training_job(TrainingJobName=job)
    assert model["PrimaryContainer"]["ModelDataUrl"] == described["ModelArtifacts"]["S3ModelArtifacts"]
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "train.py"
    [logged_job] = [r for r in model_log(reference_api, "ml_jobs") if r["name"] == job]
    assert logged_job["status"] == "Completed" and logged_job["model_arn"] == model["ModelArn"]
    assert json.loads(logged_job["metrics"]) == {"validation:accuracy": accuracy}
    [logged_model] = [r for r in model_log(reference_api, "models") if r["name"] == job]
    assert logged_model["training_job_arn"] == described["TrainingJobArn"]


def test_a_failing_job_is_recorded_failed_and_nothing_else(env, reference_api, capsys, tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("raise RuntimeError('the feature matrix is empty')\n")
    assert train("--features", "lead_score", "--entry-point", str(script), "--output", env, "--wait") == 1
    captured = capsys.readouterr()
    job = captured.out.splitlines()[0].removeprefix("job ").removesuffix(": Failed")
    reason = "AlgorithmError: ExecuteUserScriptError: ExitCode 1: RuntimeError: the feature matrix is empty"
    assert captured.err == f"saasbridge: error: training job {job} Failed: {reason} (recorded in the model log)\n"
    [logged] = [r for r in model_log(reference_api, "ml_jobs") if r["name"] == job]
    assert logged["status"] == "Failed" and logged["failure_reason"] == reason and logged["model_arn"] is None
    assert not [r for r in model_log(reference_api, "models") if r["name"] == job]
    assert job not in [m["ModelName"] for m in boto3.client("sagemaker").list_models()["Models"]]


def test_without_wait_the_job_name_comes_back_at_once_and_attach_finishes_it(env, reference_api, capsys):
    assert train("--features", "lead_score", "--entry-point", "examples/train.py", "--output", env) == 0
    out = capsys.readouterr().out.splitlines()
    job = out[0].removeprefix("job ").removesuffix(": InProgress")
    assert out[0] == f"job {job}: InProgress"
    assert boto3.client("sagemaker").describe_training_job(TrainingJobName=job)["TrainingJobName"] == job
    assert not [r for r in model_log(reference_api, "ml_jobs") if r["name"] == job]

    assert main(["train", "--attach", job, "--poll", "0.2", "--no-progress"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"job {job}: Completed", f"model {job}"]
    described = boto3.client("sagemaker").describe_training_job(TrainingJobName=job)
    model = boto3.client("sagemaker").describe_model(ModelName=job)
    assert model["ExecutionRoleArn"] == described["RoleArn"] == ROLE
    [logged] = [r for r in model_log(reference_api, "ml_jobs") if r["name"] == job]
    assert logged["status"] == "Completed" and logged["model_arn"] == model["ModelArn"]


def test_autopilot_from_the_saas_records_every_candidate_and_the_best_model(env, reference_api, capsys):
    assert train("--autopilot", "--max-candidates", "2", "--output", env, "--wait") == 0
    out = capsys.readouterr().out.splitlines()
    job = out[0].removeprefix("job ").removesuffix(": Completed")
    sm = boto3.client("sagemaker")
    described = sm.describe_auto_ml_job_v2(AutoMLJobName=job)
    best = described["BestCandidate"]
    assert sm.describe_model(ModelName=job)["PrimaryContainer"]["ModelDataUrl"] == \
        best["InferenceContainers"][0]["ModelDataUrl"]  # fmt: skip
    header = s3_text(f"{env}/{job}/input/train/part-00000.csv").splitlines()[0]
    assert header == f"{TARGET},lead_score"  # the default features: every numeric or boolean field but the target
    candidates = sm.list_candidates_for_auto_ml_job(AutoMLJobName=job)["Candidates"]
    values = {c["CandidateName"]: c["FinalAutoMLJobObjectiveMetric"]["Value"] for c in candidates}
    logged = {r["name"]: r for r in model_log(reference_api, "ml_jobs") if r["name"].startswith(job)}
    model_arn = sm.describe_model(ModelName=job)["ModelArn"]
    assert logged[job]["kind"] == "automl" and logged[job]["model_arn"] == model_arn
    assert json.loads(logged[job]["metrics"]) == {"objective": "F1", "best_candidate": best["CandidateName"],
                                                  "candidates": values}  # fmt: skip
    for name, value in values.items():
        assert logged[name]["kind"] == "automl_candidate" and json.loads(logged[name]["metrics"]) == {"F1": value}
        assert logged[name]["model_arn"] == (model_arn if name == best["CandidateName"] else None)
    assert f"metric {best['CandidateName']} = {values[best['CandidateName']]:g} (best)" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--features", "lead_score", "--entry-point", "no/such/script.py"], "--entry-point no/such/script.py: no such file"),
    (["--features", "lead_score,first_name", "--entry-point", "examples/train.py"],
     "--features 'first_name' of contacts is String; training columns must be numeric or boolean"),
    (["--features", "nope", "--entry-point", "examples/train.py"], "--features 'nope' is not a field of contacts"),
    (["--autopilot", "--entry-point", "examples/train.py"], "--autopilot chooses its own model"),
    (["--features", "lead_score"], "name the training script with --entry-point SCRIPT, or use --autopilot"),
    (["--attach", "some-job"], "--attach follows a job already started: drop ENTITY, --target, --output"),
    (["--features", "lead_score", "--entry-point", "examples/train.py", "--metric", "acc"], "--metric 'acc' is not NAME=REGEX"),
])  # fmt: skip
def test_mistakes_are_one_line_errors(env, capsys, args, message):
    assert train(*args, "--output", env) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"saasbridge: error: {message}") and err.count("\n") == 1


def test_an_unknown_entity_is_a_one_line_error(env, capsys):
    assert main(["train", "nosuch", "--target", TARGET, "--entry-point", "examples/train.py", "--output", env,
                 "--no-progress"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "nosuch" in err and err.count("\n") == 1


def test_access_denied_names_the_iam_action_and_starts_nothing(env, sagemaker_standin, capsys):
    from saasbridge.local.sagemaker.standin import clear_faults, inject_fault

    inject_fault(sagemaker_standin.url, "access_denied", action="CreateTrainingJob")
    try:
        assert train("--features", "lead_score", "--entry-point", "examples/train.py", "--output", env, "--wait") == 1
    finally:
        clear_faults(sagemaker_standin.url)
    assert capsys.readouterr().err == ("saasbridge: error: AWS denied sagemaker:CreateTrainingJob; grant the IAM action "
                                       "sagemaker:CreateTrainingJob to the role or user saasbridge uses\n")  # fmt: skip


def test_attach_to_a_job_that_does_not_exist_is_a_one_line_error(env, capsys):
    assert main(["train", "--attach", "no-such-job", "--no-progress"]) == 1
    assert capsys.readouterr().err == ("saasbridge: error: SageMaker has no training or Autopilot job named "
                                       "'no-such-job' in us-east-1; check the name and region\n")  # fmt: skip
