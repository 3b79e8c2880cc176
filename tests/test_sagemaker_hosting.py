"""The SageMaker hosting stand-in (`saasbridge sagemaker serve`) with a real model: `examples/train.py`
trains on an extract of the reference API, the model is packed as SageMaker packs it, deployed with
boto3 through the stand-in, and every answer (real-time, asynchronous, batch transform) is checked
against the model's own predictions computed in process for the same rows."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config

from demo_saas.store import dump_records
from saasbridge.cli import main
from saasbridge.local.sagemaker.model_archive import pack_model_dir
from saasbridge.local.sagemaker.sdk_deploy import deploy_endpoint, upload_model, wait_for_transform_job
from saasbridge.local.sagemaker.standin import clear_faults, inject_fault
from saasbridge.sagemaker.waiting import TRANSFORM_JOB, wait_for

ROOT = Path(__file__).resolve().parents[1]
TARGET = "do_not_contact"


def cell(value) -> str:
    """A feature as `extract --for-training` writes it: booleans 1/0, null empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class Trained:
    """The trained model, its feature names and the reference rows to score."""

    def __init__(self, model_dir: Path, features: list[str], rows: list[dict], model_url: str):
        import joblib

        self.model_dir = model_dir
        self.model = joblib.load(model_dir / "model.joblib")
        self.features = features
        self.rows = rows
        self.model_url = model_url

    def feature_lines(self, rows: list[dict] | None = None) -> list[str]:
        return [",".join(cell(r[f]) for f in self.features) for r in (rows or self.rows)]

    def own_predictions(self, rows: list[dict] | None = None) -> list[float]:
        """The model's predictions in process, from the same CSV fields the endpoint receives."""
        x = np.array([[float(c) if c else np.nan for c in line.split(",")] for line in self.feature_lines(rows)])
        return self.model.predict_proba(x)[:, 1].tolist()


def boto(service: str, url: str, **config):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(**config) if config else None)  # fmt: skip


@pytest.fixture(scope="module")
def trained(reference_api, sagemaker_standin, tmp_path_factory) -> Trained:
    """Extract → train with examples/train.py as a SageMaker job runs it → model.tar.gz in S3 → CreateModel."""
    tmp = tmp_path_factory.mktemp("sagemaker")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"AWS_ENDPOINT_URL": sagemaker_standin.url, "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                           "SAASBRIDGE_API_KEY": "demo-acme-key"}.items():  # fmt: skip
            mp.setenv(key, value)
        rc = main(["extract", "contacts", "--to", str(tmp / "out"), "--for-training", TARGET, "--flow-name", "c",
                   "--api-url", reference_api.url, "--no-progress"])  # fmt: skip
    assert rc == 0
    [run_dir] = (tmp / "out" / "c" / "_training").iterdir()
    features = [c["name"] for c in json.loads((run_dir / "manifest.json").read_text())["columns"]][1:]
    model_dir = tmp / "model"
    env = {**os.environ, "SM_CHANNEL_TRAIN": str(run_dir / "train"), "SM_MODEL_DIR": str(model_dir)}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "train.py")], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    s3 = boto("s3", sagemaker_standin.url)
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    url = upload_model(model_dir, f"s3://{bucket}/contacts/model.tar.gz", s3)
    rows = dump_records(reference_api.db_path, "acme", "contacts")
    return Trained(model_dir, features, rows, url)


def deploy(url: str, trained: Trained, *, async_output: str | None = None) -> str:
    """CreateModel, CreateEndpointConfig, CreateEndpoint through the stand-in; the endpoint name."""
    name = f"contacts-{uuid.uuid4().hex[:8]}"
    endpoint = deploy_endpoint(name, trained.model_url, boto("sagemaker", url), async_output=async_output)
    assert endpoint["EndpointStatus"] == "InService"
    return name


@pytest.fixture(scope="module")
def endpoint(trained, sagemaker_standin) -> str:
    return deploy(sagemaker_standin.url, trained)


def test_invoke_endpoint_answers_the_models_own_predictions(sagemaker_standin, trained, endpoint):
    runtime = boto("sagemaker-runtime", sagemaker_standin.url)
    body = "".join(line + "\n" for line in trained.feature_lines())
    answer = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv", Accept="text/csv")
    assert answer["ContentType"] == "text/csv"
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    scores = [float(v) for v in answer["Body"].read().decode().splitlines()]
    assert scores == trained.own_predictions()  # every row, in order, exactly
    as_json = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv",
                                      Accept="application/json")  # fmt: skip
    assert json.loads(as_json["Body"].read())["predictions"] == trained.own_predictions()


def test_code_from_an_s3_sourcedir_serves_a_model_packed_without_code(sagemaker_standin, trained, tmp_path):
    """As the SageMaker SDK deploys when it does not repack: model.tar.gz holds the model only and
    SAGEMAKER_SUBMIT_DIRECTORY names an s3:// sourcedir.tar.gz with the script."""
    import shutil

    (tmp_path / "model").mkdir()
    shutil.copy(trained.model_dir / "model.joblib", tmp_path / "model")
    (tmp_path / "source").mkdir()
    shutil.copy(ROOT / "examples" / "train.py", tmp_path / "source" / "serve.py")
    s3 = boto("s3", sagemaker_standin.url)
    bucket = f"sdk-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    model_url = upload_model(tmp_path / "model", f"s3://{bucket}/model.tar.gz", s3)
    source_url = upload_model(tmp_path / "source", f"s3://{bucket}/sourcedir.tar.gz", s3)
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    deploy_endpoint(name, model_url, boto("sagemaker", sagemaker_standin.url), program="serve.py",
                    environment={"SAGEMAKER_SUBMIT_DIRECTORY": source_url})  # fmt: skip
    runtime = boto("sagemaker-runtime", sagemaker_standin.url)
    body = "".join(line + "\n" for line in trained.feature_lines())
    answer = runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv", Accept="text/csv")
    assert [float(v) for v in answer["Body"].read().decode().splitlines()] == trained.own_predictions()


def test_model_error_has_sagemakers_shape(sagemaker_standin, trained, endpoint):
    runtime = boto("sagemaker-runtime", sagemaker_standin.url)
    wrong_width = "1,2,3,4,5,6,7,8,9\n"  # more features than the model was trained on
    with pytest.raises(runtime.exceptions.ModelError) as info:
        runtime.invoke_endpoint(EndpointName=endpoint, Body=wrong_width, ContentType="text/csv")
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 500
    assert "features" in error["OriginalMessage"]  # scikit-learn's own complaint, from the container
    assert error["Error"]["Message"].startswith("Received server error (500) from")
    assert error["LogStreamArn"].endswith(f"/aws/sagemaker/Endpoints/{endpoint}")
    with pytest.raises(runtime.exceptions.ValidationError, match="not found"):
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", Body="1\n", ContentType="text/csv")


def test_endpoint_with_an_unreadable_archive_fails_to_create(sagemaker_standin, trained):
    s3, sm = boto("s3", sagemaker_standin.url), boto("sagemaker", sagemaker_standin.url)
    bucket = f"broken-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="model.tar.gz", Body=b"not a tar archive")
    name = f"broken-{uuid.uuid4().hex[:8]}"
    with pytest.raises(RuntimeError, match="is Failed"):
        deploy_endpoint(name, f"s3://{bucket}/model.tar.gz", sm)
    endpoint = sm.describe_endpoint(EndpointName=name)
    assert endpoint["EndpointStatus"] == "Failed"
    assert f"s3://{bucket}/model.tar.gz: not a readable .tar.gz" in endpoint["FailureReason"]
    runtime = boto("sagemaker-runtime", sagemaker_standin.url)
    with pytest.raises(runtime.exceptions.ValidationError, match="Failed, not InService"):
        runtime.invoke_endpoint(EndpointName=name, Body="1\n", ContentType="text/csv")


def test_injected_throttling_then_model_error_then_success(sagemaker_standin, trained, endpoint):
    runtime = boto("sagemaker-runtime", sagemaker_standin.url, retries={"total_max_attempts": 1, "mode": "standard"})
    body = trained.feature_lines()[0] + "\n"
    inject_fault(sagemaker_standin.url, "throttle", count=2, endpoint=endpoint)
    pending = inject_fault(sagemaker_standin.url, "model_error", count=1, endpoint=endpoint)
    assert pending == {f"throttle:{endpoint}": 2, f"model_error:{endpoint}": 1}
    try:
        for _ in range(2):
            with pytest.raises(runtime.exceptions.ClientError) as info:
                runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv")
            assert info.value.response["Error"]["Code"] == "ThrottlingException"
        with pytest.raises(runtime.exceptions.ModelError):
            runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv")
        answer = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv", Accept="text/csv")
        assert float(answer["Body"].read()) == trained.own_predictions(trained.rows[:1])[0]
    finally:
        clear_faults(sagemaker_standin.url)
    # boto3's own retries ride over throttling, as against the real service
    inject_fault(sagemaker_standin.url, "throttle", count=2, endpoint=endpoint)
    retrying = boto("sagemaker-runtime", sagemaker_standin.url, retries={"total_max_attempts": 3, "mode": "standard"})
    answer = retrying.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv", Accept="text/csv")
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2


def wait_for_object(s3, location: str, timeout: float = 60.0) -> bytes | None:
    bucket, key = location[5:].split("/", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            time.sleep(0.1)
    return None


def test_async_invocation_writes_output_and_failure_objects(sagemaker_standin, trained):
    s3 = boto("s3", sagemaker_standin.url)
    bucket = f"async-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    name = deploy(sagemaker_standin.url, trained, async_output=f"s3://{bucket}/out")
    body = "".join(line + "\n" for line in trained.feature_lines())
    s3.put_object(Bucket=bucket, Key="in/batch.csv", Body=body.encode())
    s3.put_object(Bucket=bucket, Key="in/bad.csv", Body=b"1,2,3,4,5,6,7,8,9\n")
    runtime = boto("sagemaker-runtime", sagemaker_standin.url)
    answer = runtime.invoke_endpoint_async(EndpointName=name, InputLocation=f"s3://{bucket}/in/batch.csv",
                                           ContentType="text/csv", Accept="text/csv", InferenceId="run-1")  # fmt: skip
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert answer["InferenceId"] == "run-1"
    assert answer["OutputLocation"].startswith(f"s3://{bucket}/out/")
    assert answer["FailureLocation"].startswith(f"s3://{bucket}/out-failures/")
    output = wait_for_object(s3, answer["OutputLocation"])
    assert output is not None
    assert [float(v) for v in output.decode().splitlines()] == trained.own_predictions()
    failed = runtime.invoke_endpoint_async(EndpointName=name, InputLocation=f"s3://{bucket}/in/bad.csv",
                                           ContentType="text/csv")  # fmt: skip
    failure = wait_for_object(s3, failed["FailureLocation"])
    assert failure is not None and json.loads(failure)["OriginalStatusCode"] == 500
    assert wait_for_object(s3, failed["OutputLocation"], timeout=0.5) is None
    # a real-time endpoint has no asynchronous output location
    with pytest.raises(runtime.exceptions.ValidationError, match="not an asynchronous endpoint"):
        runtime.invoke_endpoint_async(EndpointName=deploy(sagemaker_standin.url, trained),
                                      InputLocation=f"s3://{bucket}/in/batch.csv")  # fmt: skip


def transform_request(name: str, model: str, source: str, output: str, **extra) -> dict:
    return {"TransformJobName": name, "ModelName": model, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 1,
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}},
                               "ContentType": "text/csv", "SplitType": "Line"},
            "TransformOutput": {"S3OutputPath": output, "Accept": "text/csv", "AssembleWith": "Line"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}, **extra}  # fmt: skip


def test_transform_job_joins_ids_to_the_models_predictions(sagemaker_standin, trained, endpoint):
    s3, sm = boto("s3", sagemaker_standin.url), boto("sagemaker", sagemaker_standin.url)
    bucket = f"batch-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    half = len(trained.rows) // 2
    parts = {"in/part-0.csv": trained.rows[:half], "in/part-1.csv": trained.rows[half:]}
    for key, rows in parts.items():
        lines = [f"{r['id']},{line}" for r, line in zip(rows, trained.feature_lines(rows), strict=True)]
        s3.put_object(Bucket=bucket, Key=key, Body="".join(line + "\n" for line in lines).encode())
    name = f"score-{uuid.uuid4().hex[:8]}"
    sm.create_transform_job(**transform_request(
        name, endpoint, f"s3://{bucket}/in/", f"s3://{bucket}/out",
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}))  # fmt: skip
    job = wait_for_transform_job(sm, name, timeout=120)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert [j["TransformJobStatus"] for j in sm.list_transform_jobs()["TransformJobSummaries"]
            if j["TransformJobName"] == name] == ["Completed"]  # fmt: skip
    for key, rows in parts.items():
        out = s3.get_object(Bucket=bucket, Key=f"out/{key.removeprefix('in/')}.out")["Body"].read().decode()
        got = [(row[0], float(row[1])) for row in csv.reader(io.StringIO(out))]
        assert got == list(zip([r["id"] for r in rows], trained.own_predictions(rows), strict=True))


def test_transform_job_over_json_lines_keeps_the_id_key(sagemaker_standin, trained, endpoint):
    """JSON records: InputFilter picks the features, the answer joins as SageMakerOutput, the
    OutputFilter keeps the id and the answer; one request per record (SingleRecord)."""
    s3, sm = boto("s3", sagemaker_standin.url), boto("sagemaker", sagemaker_standin.url)
    bucket = f"batch-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    rows = trained.rows[:40]
    records = [{"id": r["id"], "features": [None if c == "" else float(c) for c in line.split(",")]}
               for r, line in zip(rows, trained.feature_lines(rows), strict=True)]  # fmt: skip
    s3.put_object(Bucket=bucket, Key="in/rows.jsonl", Body="".join(json.dumps(r) + "\n" for r in records).encode())
    name = f"json-{uuid.uuid4().hex[:8]}"
    request = transform_request(name, endpoint, f"s3://{bucket}/in/rows.jsonl", f"s3://{bucket}/out",
                                BatchStrategy="SingleRecord", MaxConcurrentTransforms=2,
                                DataProcessing={"InputFilter": "$.features", "JoinSource": "Input",
                                                "OutputFilter": "$['id','SageMakerOutput']"})  # fmt: skip
    request["TransformInput"]["ContentType"] = request["TransformOutput"]["Accept"] = "application/jsonlines"
    sm.create_transform_job(**request)
    job = wait_for_transform_job(sm, name, timeout=120)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    out = s3.get_object(Bucket=bucket, Key="out/rows.jsonl.out")["Body"].read().decode()
    got = [json.loads(line) for line in out.splitlines()]
    assert got == [{"id": r["id"], "SageMakerOutput": {"score": p}}
                   for r, p in zip(rows, trained.own_predictions(rows), strict=True)]  # fmt: skip


def test_failing_transform_job_reports_failed_with_a_reason(sagemaker_standin, trained, endpoint):
    s3, sm = boto("s3", sagemaker_standin.url), boto("sagemaker", sagemaker_standin.url)
    bucket = f"batch-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in/rows.csv", Body=b"a,1,2,3,4,5,6,7,8,9\n")  # too many features
    name = f"bad-{uuid.uuid4().hex[:8]}"
    sm.create_transform_job(**transform_request(name, endpoint, f"s3://{bucket}/in/rows.csv", f"s3://{bucket}/out",
                                                DataProcessing={"InputFilter": "$[1:]"}))  # fmt: skip
    job = wait_for_transform_job(sm, name, timeout=120)
    assert job["TransformJobStatus"] == "Failed"
    assert "the model answered 500" in job["FailureReason"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="out/")


def test_a_transform_job_still_running_at_the_timeout_is_stopped(sagemaker_standin, trained, endpoint):
    """The timeout rule (saasbridge/sagemaker/waiting.py) on a job that really runs: one model call per
    record over many objects outlasts a short wait, which stops it; it ends Stopped, short of its outputs."""
    s3, sm = boto("s3", sagemaker_standin.url), boto("sagemaker", sagemaker_standin.url)
    bucket, objects = f"stop-{uuid.uuid4().hex[:8]}", 40
    s3.create_bucket(Bucket=bucket)
    body = "".join(line + "\n" for line in trained.feature_lines()).encode()
    for i in range(objects):
        s3.put_object(Bucket=bucket, Key=f"in/part-{i:03d}.csv", Body=body)
    name = f"long-{uuid.uuid4().hex[:8]}"
    sm.create_transform_job(**transform_request(name, endpoint, f"s3://{bucket}/in/", f"s3://{bucket}/out",
                                                BatchStrategy="SingleRecord"))  # fmt: skip
    waited = wait_for(sm, TRANSFORM_JOB, name, timeout=0.5, poll=0.1)
    assert (waited.status, waited.timed_out, waited.stopped) == ("InProgress", True, True)
    assert waited.description["TransformJobStatus"] in ("Stopping", "Stopped")
    assert wait_for_transform_job(sm, name, timeout=60)["TransformJobStatus"] == "Stopped"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="out/")["KeyCount"] < objects
    with pytest.raises(sm.exceptions.ClientError, match="ValidationException.*only an InProgress job"):
        sm.stop_transform_job(TransformJobName=name)


def test_model_server_without_hooks_uses_the_sklearn_containers_defaults(trained, tmp_path):
    """The container stand-in on its own: /ping, and /invocations with the scikit-learn container's
    defaults for the hooks a script leaves out (json → float32 array → model.predict → json)."""
    import urllib.error
    import urllib.request

    from saasbridge.local import processes
    from saasbridge.local.sagemaker.container import READY_PREFIX
    from saasbridge.local.sagemaker.model_archive import unpack_model

    model_dir = unpack_model(pack_model_dir(trained.model_dir), tmp_path / "model")
    (model_dir / "code" / "bare.py").write_text(
        "import joblib, os\n\ndef model_fn(model_dir):\n    return joblib.load(os.path.join(model_dir, 'model.joblib'))\n")
    lines = [line for line in trained.feature_lines() if "" not in line.split(",")][:20]
    x = np.array([[float(c) for c in line.split(",")] for line in lines])
    body = json.dumps(x.tolist()).encode()  # 2-D even for one feature (a 1-column CSV decodes to 1-D)
    server = processes._spawn("model", ["-m", "saasbridge.local.sagemaker.container", "--model-dir", str(model_dir)],
                              extra_env={"SAGEMAKER_PROGRAM": "bare.py"})  # fmt: skip
    with server:
        server.url = processes._wait_for_line(server, READY_PREFIX, time.monotonic() + 60)
        with urllib.request.urlopen(server.url + "/ping", timeout=10) as ping:
            assert ping.status == 200
        request = urllib.request.Request(server.url + "/invocations", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.headers["Content-Type"] == "application/json"
            out = json.loads(answer.read())
        request = urllib.request.Request(server.url + "/invocations", data=b"x", method="POST",
                                         headers={"Content-Type": "application/x-unknown"})  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=30)
        assert info.value.code == 415 and b"not supported" in info.value.read()  # a client error, as the container answers
    assert out == trained.model.predict(x.astype(np.float32)).tolist()


def test_serve_refuses_a_non_loopback_moto_url(capsys):
    assert main(["sagemaker", "serve", "--moto-url", "http://10.1.2.3:5000"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--moto-url" in err and "loopback" in err
