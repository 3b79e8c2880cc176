"""The SageMaker stand-in runs training and Autopilot jobs: requests built by saasbridge.sagemaker.training,
sent with boto3 through the stand-in, and every answer checked against independent ground truth (the
same script run directly on the same channel files; the candidate's own pipeline loaded from its
archive; the script's own failure file and error line)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import time
import uuid
from pathlib import Path

import boto3
import joblib
import numpy as np
import pytest
from botocore.config import Config

from demo_saas.store import dump_records
from saasbridge.local.sagemaker.sdk_deploy import deploy_endpoint
from saasbridge.sagemaker.aws import AwsService
from saasbridge.sagemaker.training import autopilot as automl
from saasbridge.sagemaker.training import script_mode
from saasbridge.sagemaker.training.autopilot import AutopilotJob
from saasbridge.sagemaker.training.channels import ChannelSpec, build_channels
from saasbridge.sagemaker.training.script_mode import ScriptJob
from saasbridge.sagemaker.training.watch import watch_automl_job, watch_training_job

ROOT = Path(__file__).resolve().parents[1]
ROLE = "arn:aws:iam::123456789012:role/saasbridge-sagemaker"
TARGET = "do_not_contact"
METRICS = {"train:accuracy": r"train_accuracy=([0-9.]+)", "validation:accuracy": r"validation_accuracy=([0-9.]+)",
           "validation:log_loss": r"validation_log_loss=([0-9.]+)"}  # fmt: skip


def boto(service: str, url: str, **config):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(**config) if config else None)  # fmt: skip


class Place:
    """A bucket of the stand-in's S3 and the clients to use it."""

    def __init__(self, url: str):
        self.url = url
        self.s3 = boto("s3", url)
        self.sm = AwsService(boto("sagemaker", url))
        self.logs = AwsService(boto("logs", url))
        self.bucket = f"training-{uuid.uuid4().hex[:10]}"
        self.s3.create_bucket(Bucket=self.bucket)

    def put(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"

    def get(self, url: str) -> bytes:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def start(self, job: ScriptJob, channels: dict[str, bytes], name: str | None = None) -> str:
        name = name or script_mode.job_name("test")
        source = self.put(f"{name}/source/sourcedir.tar.gz", script_mode.source_tarball(job))
        inputs = {c: self.put(f"{name}/input/{c}/part-00000.csv", body).rsplit("/", 1)[0] + "/"
                  for c, body in channels.items()}  # fmt: skip
        request = script_mode.create_training_job_request(job, name=name, role_arn=ROLE, region="us-east-1",
                                                          source_url=source, channels=inputs,
                                                          output_url=f"s3://{self.bucket}/out")  # fmt: skip
        self.sm.call("create_training_job", **request)
        return name


@pytest.fixture(scope="module")
def place(sagemaker_standin) -> Place:
    return Place(sagemaker_standin.url)


@pytest.fixture(scope="module")
def contacts(reference_api) -> list[dict]:
    return dump_records(reference_api.db_path, "acme", "contacts")


FEATURES = ("lead_score",)


@pytest.fixture(scope="module")
def channels(contacts):
    return build_channels(contacts, ChannelSpec("contacts", TARGET, FEATURES, "id"))


def script(tmp_path: Path, body: str) -> ScriptJob:
    path = tmp_path / "entry.py"
    path.write_text(textwrap.dedent(body))
    return ScriptJob(str(path))


def run_directly(channels, tmp_path: Path, *args: str) -> tuple[dict, Path]:
    """examples/train.py run by hand on the same channel files: its metrics.json and model folder."""
    env = dict(os.environ, SM_MODEL_DIR=str(tmp_path / "model"), SM_OUTPUT_DATA_DIR=str(tmp_path / "data"))
    for channel, body in channels.files.items():
        (tmp_path / channel).mkdir()
        (tmp_path / channel / "part-00000.csv").write_bytes(body)
        env[f"SM_CHANNEL_{channel.upper()}"] = str(tmp_path / channel)
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "train.py"), *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads((tmp_path / "data" / "metrics.json").read_text()), tmp_path / "model"


def members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_script_mode_job_does_what_the_script_does_run_directly(place, channels, tmp_path):
    job = ScriptJob(str(ROOT / "examples" / "train.py"), hyperparameters={"max-iter": 50, "C": 0.5}, metrics=METRICS)
    said: list[str] = []
    name = place.start(job, channels.files)
    waited = watch_training_job(place.sm, place.logs, name, timeout=120, poll=0.2, say=said.append)
    described = waited.description
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]  # fmt: skip

    expected, model_dir = run_directly(channels, tmp_path, "--max-iter", "50", "--C", "0.5")
    final = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert final == {"train:accuracy": expected["train_accuracy"], "validation:accuracy": expected["validation_accuracy"],
                     "validation:log_loss": expected["validation_log_loss"]}  # fmt: skip
    assert expected["train_rows"] == channels.rows["train"] and expected["validation_rows"] == channels.rows["validation"]
    assert any(f"validation_accuracy={expected['validation_accuracy']!r}" in line for line in said)  # the log, followed
    assert any(line.endswith(f"{name}: Completed - Training job completed") for line in said)

    artifacts = members(place.get(described["ModelArtifacts"]["S3ModelArtifacts"]))
    direct = {p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()}
    assert set(artifacts) == direct
    assert json.loads(artifacts["model.json"]) == json.loads((model_dir / "model.json").read_text())
    rows = np.array([[float(v) if v else np.nan for v in line.split(",")[1:]]
                     for line in channels.files["validation"].decode().splitlines()])  # fmt: skip
    from_job = joblib.load(io.BytesIO(artifacts["model.joblib"]))
    assert from_job.predict_proba(rows).tolist() == joblib.load(model_dir / "model.joblib").predict_proba(rows).tolist()

    # the model as the SDK creates it: the job's artifacts served by the same script's hooks
    model = script_mode.model_request(described, name=name, region="us-east-1")
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == \
        json.loads(described["HyperParameters"]["sagemaker_submit_directory"])  # fmt: skip
    place.sm.call("create_model", **model)
    sm = place.sm.client
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])  # fmt: skip
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    body = "".join(line.split(",", 1)[1] + "\n" for line in channels.files["validation"].decode().splitlines())
    answer = boto("sagemaker-runtime", place.url).invoke_endpoint(EndpointName=name, ContentType="text/csv",
                                                                   Accept="text/csv", Body=body)  # fmt: skip
    scores = [float(x) for x in answer["Body"].read().decode().split()]
    assert scores == from_job.predict_proba(rows)[:, 1].tolist()


def test_the_script_sees_the_containers_environment_and_arguments(place, tmp_path):
    job = script(tmp_path, """
        import json, os, sys
        from pathlib import Path
        config = Path(os.environ["SM_INPUT_CONFIG_DIR"])
        seen = {"argv": sys.argv[1:], "env": {k: v for k, v in os.environ.items() if k.startswith("SM_")},
                "hyperparameters": json.loads((config / "hyperparameters.json").read_text()),
                "resourceconfig": json.loads((config / "resourceconfig.json").read_text()),
                "train": sorted(p.name for p in Path(os.environ["SM_CHANNEL_TRAIN"]).iterdir())}
        Path(os.environ["SM_MODEL_DIR"], "seen.json").write_text(json.dumps(seen))
    """)
    job = ScriptJob(job.entry_point, hyperparameters={"C": 0.5, "penalty": "l2", "e": 3})
    name = place.start(job, {"train": b"1,2\n"})
    described = watch_training_job(place.sm, None, name, timeout=60, poll=0.2, say=lambda _: None).description
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    seen = json.loads(members(place.get(described["ModelArtifacts"]["S3ModelArtifacts"]))["seen.json"])
    assert seen["argv"] == ["-C", "0.5", "-e", "3", "--penalty", "l2"]  # the toolkit's order and form
    assert seen["hyperparameters"]["C"] == "0.5" and seen["hyperparameters"]["penalty"] == '"l2"'  # as sent
    assert seen["hyperparameters"]["sagemaker_program"] == '"entry.py"'
    env = seen["env"]
    assert env["SM_HP_C"] == "0.5" and env["SM_HP_PENALTY"] == "l2" and json.loads(env["SM_HPS"]) == {
        "C": 0.5, "penalty": "l2", "e": 3}  # fmt: skip
    assert json.loads(env["SM_CHANNELS"]) == ["train"] and env["SM_USER_ENTRY_POINT"] == "entry.py"
    assert env["SM_CURRENT_HOST"] == "algo-1" and json.loads(env["SM_HOSTS"]) == ["algo-1"]
    assert seen["resourceconfig"]["current_host"] == "algo-1"
    assert seen["train"] == ["part-00000.csv"]


def test_a_failing_script_fails_the_job_with_its_failure_file_or_last_error_line(place, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with_file = script(tmp_path / "a", """
        import os, sys
        open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write("the target has a single class")
        sys.exit(2)
    """)
    raising = script(tmp_path / "b", """
        print("reading the channel")
        raise ValueError("column 3 is not a number")
    """)
    first, second = place.start(with_file, {"train": b"1\n"}), place.start(raising, {"train": b"1\n"})
    for name, reason in [(first, "the target has a single class"),
                         (second, "AlgorithmError: ExecuteUserScriptError: ExitCode 1: ValueError: column 3 is not a number")]:  # fmt: skip
        described = watch_training_job(place.sm, None, name, timeout=60, poll=0.2, say=lambda _: None).description
        assert described["TrainingJobStatus"] == "Failed"
        assert described["SecondaryStatus"] == "Failed"
        assert described["FailureReason"] == reason


def test_stop_training_job_ends_the_script(place, tmp_path):
    job = script(tmp_path, """
        import time
        print("started", flush=True)
        time.sleep(300)
    """)
    name = place.start(job, {"train": b"1\n"})
    deadline = time.monotonic() + 60
    while place.sm.call("describe_training_job", TrainingJobName=name)["SecondaryStatus"] != "Training":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    place.sm.call("stop_training_job", TrainingJobName=name)
    described = watch_training_job(place.sm, None, name, timeout=30, poll=0.2, say=lambda _: None).description
    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "Stopped"
    with pytest.raises(Exception, match="ValidationException"):
        place.sm.call("stop_training_job", TrainingJobName=name)


def test_autopilot_job_searches_and_its_best_candidate_scores_rows(place, contacts):
    data = build_channels(contacts, ChannelSpec("contacts", TARGET, FEATURES, "id", header=True))
    name = script_mode.job_name("autopilot")
    inputs = {c: place.put(f"{name}/input/{c}/part-00000.csv", body).rsplit("/", 1)[0] + "/"
              for c, body in data.files.items()}  # fmt: skip
    place.sm.call("create_auto_ml_job_v2", **automl.create_automl_job_request(
        AutopilotJob(max_candidates=3), name=name, role_arn=ROLE, target=TARGET, channels=inputs,
        output_url=f"s3://{place.bucket}/automl"))  # fmt: skip
    said: list[str] = []
    described = watch_automl_job(place.sm, name, timeout=300, poll=0.5, say=said.append).description
    assert described["AutoMLJobStatus"] == "Completed", described.get("FailureReason")
    assert described["AutoMLJobSecondaryStatus"] == "MaxCandidatesReached"
    resolved = described["ResolvedAttributes"]
    assert resolved["AutoMLProblemTypeResolvedAttributes"]["TabularResolvedAttributes"]["ProblemType"] == \
        "BinaryClassification"  # fmt: skip
    assert resolved["AutoMLJobObjective"]["MetricName"] == "F1"  # Autopilot's default for it
    candidates = list(place.sm.pages("list_candidates_for_auto_ml_job", "Candidates", AutoMLJobName=name,
                                     MaxResults=2))  # fmt: skip
    assert len(candidates) == 3 and {c["CandidateName"].split("-")[-1] for c in candidates} == {
        "linear", "forest", "boosting"}  # fmt: skip
    values = automl.objective_values(candidates)
    best = described["BestCandidate"]
    assert values[best["CandidateName"]] == max(values.values())

    # the best candidate's model as CreateModel takes it, served by an endpoint
    place.sm.call("create_model", **automl.best_model_request(best, name=name, role_arn=ROLE))
    deploy_endpoint(name, best["InferenceContainers"][0]["ModelDataUrl"], place.sm.client,
                    program="automl_inference.py", poll=0.2)  # fmt: skip
    lines = data.files["train"].decode().splitlines()[1:]
    body = "".join(line.split(",", 1)[1] + "\n" for line in lines)
    answer = boto("sagemaker-runtime", place.url).invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=body)
    labels = answer["Body"].read().decode().split()
    saved = joblib.load(io.BytesIO(members(place.get(best["InferenceContainers"][0]["ModelDataUrl"]))["model.joblib"]))
    import pandas as pd

    frame = pd.DataFrame([[float(v) if v else np.nan for v in line.split(",")[1:]] for line in lines],
                         columns=list(FEATURES))  # fmt: skip
    expected = [str(saved["classes"][i]) for i in saved["pipeline"].predict(frame)]
    assert labels == expected
    truth = [line.split(",")[0] for line in lines]
    assert sum(a == b for a, b in zip(labels, truth, strict=True)) / len(truth) > 0.5


def test_stop_automl_job_ends_the_search(place, contacts):
    data = build_channels(contacts, ChannelSpec("contacts", TARGET, FEATURES, "id", header=True))
    name = script_mode.job_name("autopilot-stop")
    inputs = {"train": place.put(f"{name}/input/train/part-00000.csv", data.files["train"]).rsplit("/", 1)[0] + "/"}
    place.sm.call("create_auto_ml_job_v2", **automl.create_automl_job_request(
        AutopilotJob(), name=name, role_arn=ROLE, target=TARGET, channels=inputs,
        output_url=f"s3://{place.bucket}/automl"))  # fmt: skip
    place.sm.call("stop_auto_ml_job", AutoMLJobName=name)
    described = watch_automl_job(place.sm, name, timeout=120, poll=0.2, say=lambda _: None).description
    assert (described["AutoMLJobStatus"], described["AutoMLJobSecondaryStatus"]) == ("Stopped", "Stopped")
    listed = place.sm.call("list_candidates_for_auto_ml_job", AutoMLJobName=name)["Candidates"]
    assert len(listed) < 6  # the search ended before its grid did
    with pytest.raises(Exception, match="ValidationException"):
        place.sm.call("stop_auto_ml_job", AutoMLJobName=name)
