"""`saasbridge predict` with models built the way SageMaker's own containers serve them, on the
stand-in: a scikit-learn/XGBoost-style model on the container's default CSV decoder (integer,
decimal and boolean features: one float matrix), a TensorFlow-Serving-style model taking
`{"instances": …}` JSON with a text feature and answering per-class probabilities, and a
serverless endpoint. Ground truth: each model's own predictions in this process for the reference
API's rows. Then every fail-fast case: refused in one line before a single row is read (the
reference API's request log shows no list request of the scored entity)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from demo_saas.store import dump_records
from saasbridge.cli import main
from tests.helpers import written

pytestmark = [pytest.mark.usefixtures("fresh_session"), pytest.mark.slow]

WHERE = "country in ('DE', 'FR', 'US')"
COUNTRIES = {"DE": 1.0, "FR": 2.0, "US": 3.0}
CSV_FEATURES = ["employees", "annual_revenue", "is_active"]  # int64, decimal (nullable), boolean
JSON_FEATURES = ["employees", "country", "is_active"]  # a text feature: JSON only
BUCKET = "payloads"

CSV_SCRIPT = '''
import os

import joblib
import numpy as np


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):  # the container's default input_fn decoded the CSV (float32)
    if np.asarray(data)[:, 0].max() > {limit}:  # employees
        raise ValueError("employees above {limit}: this model was not trained on such accounts\\nsecond line")
    return model.predict_proba(data).astype(np.float64)  # both classes: a CSV answer of two columns
'''

ONE_ROW_INPUT = '''

def input_fn(body, content_type):  # a one-line CSV as a 1-row matrix (the default decoder reads it 1-D)
    import io

    text = body if isinstance(body, str) else body.decode()
    return np.atleast_2d(np.genfromtxt(io.StringIO(text), delimiter=",")).astype(np.float32)
'''

JSON_SCRIPT = '''
import json
import os

import joblib
import numpy as np

COUNTRIES = {countries!r}


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(body, content_type):
    assert content_type == "application/json", content_type
    rows = json.loads(body)["instances"]  # TensorFlow Serving's request shape
    return np.array([[e, COUNTRIES.get(c, 0.0), a] for e, c, a in rows], dtype=float)


def predict_fn(data, model):
    return model.predict_proba(data)


def output_fn(prediction, accept):
    rows = [{{"probabilities": p.tolist(), "labels": ["stays", "churns"]}} for p in prediction]
    return json.dumps({{"predictions": rows}}), "application/json"
'''


# ---------------------------------------------------------------- servers, models, ground truth

@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from saasbridge.local.processes import start_reference_api

    log = tmp_path_factory.mktemp("api") / "requests.log"
    with start_reference_api(scale=0.05, seed=22, rate_limit=2000, request_log=log) as server:
        server.request_log = log  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def env(aws_env, api, sagemaker_env, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    monkeypatch.setenv("SAASBRIDGE_API_URL", api.url)
    yield sagemaker_env
    from saasbridge.local.sagemaker.standin import clear_faults

    clear_faults(sagemaker_env.url)


def accounts(api) -> list[dict]:
    return [r for r in dump_records(api.db_path, "acme", "accounts") if r["country"] in COUNTRIES]


def csv_matrix(rows: list[dict]) -> np.ndarray:
    """The float32 matrix the container's default CSV decoder builds from these rows."""
    return np.array([[np.nan if r[f] is None else float(r[f]) for f in CSV_FEATURES] for r in rows]).astype(np.float32)


def json_matrix(rows: list[dict]) -> np.ndarray:
    return np.array([[float(r["employees"]), COUNTRIES[r["country"]], float(r["is_active"])] for r in rows])


def fit(x: np.ndarray, y: np.ndarray):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(keep_empty_features=True), StandardScaler(), LogisticRegression()).fit(x, y)


def deploy(tmp: Path, name: str, model, script: str, **kwargs) -> None:
    import boto3
    import joblib

    from saasbridge.local.sagemaker.sdk_deploy import deploy_endpoint, upload_model

    model_dir = tmp / name
    (model_dir / "code").mkdir(parents=True)
    joblib.dump(model, model_dir / "model.joblib")
    (model_dir / "code" / "inference.py").write_text(script)
    url = upload_model(model_dir, f"s3://{BUCKET}/{name}/model.tar.gz", boto3.client("s3"))
    deploy_endpoint(name, url, boto3.client("sagemaker"), program="inference.py", **kwargs)


@pytest.fixture(scope="module")
def models(api, sagemaker_standin, tmp_path_factory):
    """The CSV model (real-time and serverless endpoints, and a transform model), the JSON model,
    and a CSV model that raises for large accounts; their in-process twins."""
    import boto3

    from saasbridge.local.sagemaker.sdk_deploy import EXECUTION_ROLE

    aws = {"endpoint_url": sagemaker_standin.url, "region_name": "us-east-1", "aws_access_key_id": "testing",
           "aws_secret_access_key": "testing"}  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"AWS_ENDPOINT_URL": aws["endpoint_url"], "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
            mp.setenv(key, value)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        rows = accounts(api)
        y = np.array([r["is_active"] for r in rows], dtype=int) ^ (np.arange(len(rows)) % 3 == 0)
        csv_model, json_model = fit(csv_matrix(rows), y), fit(json_matrix(rows), y)
        tmp = tmp_path_factory.mktemp("models")
        never = 10**12
        deploy(tmp, "csv-rt", csv_model, CSV_SCRIPT.format(limit=never))
        deploy(tmp, "csv-sl", csv_model, CSV_SCRIPT.format(limit=never), serverless={"MemorySizeInMB": 1024,
                                                                                  "MaxConcurrency": 1})  # fmt: skip
        deploy(tmp, "json-rt", json_model, JSON_SCRIPT.format(countries=COUNTRIES))
        limit = int(np.median([r["employees"] for r in rows]))
        deploy(tmp, "csv-picky", csv_model, CSV_SCRIPT.format(limit=limit) + ONE_ROW_INPUT)  # one row per request
        deploy(tmp, "csv-async", csv_model, CSV_SCRIPT.format(limit=never), async_output=f"s3://{BUCKET}/async-out")
        sm = boto3.client("sagemaker")
        sm.create_model(ModelName="csv-batch", ExecutionRoleArn=EXECUTION_ROLE,
                        PrimaryContainer=sm.describe_model(ModelName="csv-rt")["PrimaryContainer"])  # fmt: skip
    return csv_model, json_model, limit


def expected_csv(api, model, klass: int = 1) -> dict[str, float]:
    rows = accounts(api)
    return {r["id"]: float(p) for r, p in zip(rows, model.predict_proba(csv_matrix(rows))[:, klass], strict=True)}


def scores(api, model: str) -> dict[str, float]:
    """entity id → score of every prediction of `model`, read back through the reference API."""
    return {rid: p["score"] for rid, p in written(api, model).items()}


def predict(*extra: str, features=CSV_FEATURES) -> list[str]:
    return ["predict", "accounts", "--features", ",".join(features), "--where", WHERE, "--no-progress", *extra]


# ---------------------------------------------------------------- payloads

def test_csv_model_on_the_default_decoder_gets_one_float_matrix(api, models, env, capsys):
    """Integer, decimal and boolean features as floats: the scikit-learn container's default
    input_fn decodes them (before, 0/1 next to floats made a structured array and every row failed)."""
    csv_model, _, _ = models
    expected = expected_csv(api, csv_model)
    assert main(predict("--endpoint", "csv-rt", "--max-rows-per-request", "9")) == 0
    n = len(expected)
    assert f"{n} rows read, {n} predicted, {n} written to predictions, 0 failed" in capsys.readouterr().out
    assert scores(api, "csv-rt") == expected  # exact: the answer's two columns, the last one (positive class)


def test_several_csv_columns_and_class(api, models, env):
    csv_model, _, _ = models
    assert main(predict("--endpoint", "csv-rt", "--class", "0", "--model-name", "csv-rt-class0")) == 0
    assert scores(api, "csv-rt-class0") == expected_csv(api, csv_model, klass=0)


def test_json_instances_with_a_text_feature_and_named_classes(api, models, env, capsys):
    _, json_model, _ = models
    rows = accounts(api)
    expected = {r["id"]: float(p) for r, p in zip(rows, json_model.predict_proba(json_matrix(rows))[:, 0], strict=True)}
    args = predict("--endpoint", "json-rt", "--content-type", "application/json", "--output-field", "probabilities",
                   "--class", "stays", "--max-rows-per-request", "7", features=JSON_FEATURES)  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert scores(api, "json-rt") == expected


def test_content_types_recorded_in_the_model_log_are_used(api, models, env, capsys):
    """No --content-type: the model log's input_content_type/output_content_type for the endpoint's
    model choose the payload (the model package declares none here)."""
    _, json_model, _ = models
    rows = accounts(api)
    expected = {r["id"]: float(p) for r, p in zip(rows, json_model.predict_proba(json_matrix(rows))[:, 0], strict=True)}
    record = {"arn": "arn:aws:sagemaker:us-east-1:123456789012:model/json-rt", "name": "json-rt", "deleted": False,
              "input_content_type": "application/json", "output_content_type": "application/json"}  # fmt: skip
    headers = {"Authorization": "Bearer demo-acme-key"}
    assert requests.put(f"{api.url}/v1/models/json-rt-log", json=record, headers=headers, timeout=30).ok
    try:
        args = predict("--endpoint", "json-rt", "--output-field", "probabilities", "--class", "stays",
                       "--model-name", "json-rt", features=JSON_FEATURES)  # fmt: skip
        assert main(args) == 0, capsys.readouterr().err
    finally:
        requests.delete(f"{api.url}/v1/models/json-rt-log", headers=headers, timeout=30)
    assert scores(api, "json-rt") == expected


def test_serverless_endpoint_cold_start_limit_and_concurrency(api, models, env, capsys):
    """Like real-time: the first request starts the model (cold start), requests stay under 4 MB,
    and the throttling of MaxConcurrency 1 against 4 requests in flight is retried: no row lost."""
    import boto3

    csv_model, _, _ = models
    assert boto3.client("sagemaker").describe_endpoint_config(EndpointConfigName="csv-sl")["ProductionVariants"][0][
        "ServerlessConfig"]["MaxConcurrency"] == 1  # fmt: skip
    archive = f"s3://{BUCKET}/csv-sl/model.tar.gz"
    running = lambda: requests.get(f"{env.url}/_saasbridge/models", timeout=10).json()  # noqa: E731
    assert archive not in running()  # InService, yet no model started: the first request is a cold start
    expected = expected_csv(api, csv_model)
    assert main(predict("--endpoint", "csv-sl", "--max-rows-per-request", "3", "--concurrency", "4")) == 0
    assert archive in running()
    out = capsys.readouterr().out
    assert f"{len(expected)} predicted, {len(expected)} written" in out
    assert int(out.split(" retried requests")[0].rsplit(", ", 1)[1]) > 0  # throttled, then retried
    assert scores(api, "csv-sl") == expected


def test_serverless_requests_stay_under_four_megabytes():
    from saasbridge.sagemaker.inference.endpoint import SERVERLESS, EndpointInfo
    from saasbridge.sagemaker.inference.payload import SERVERLESS_MAX_PAYLOAD_BYTES, Batch, batches

    assert EndpointInfo("e", "m", kind=SERVERLESS).max_payload_bytes == SERVERLESS_MAX_PAYLOAD_BYTES == 4 * 2**20
    lines = [(i, b"x" * 1_000_000 + b"\n") for i in range(9)]
    sizes = [len(b.body) for b in batches(lines, max_bytes=SERVERLESS_MAX_PAYLOAD_BYTES) if isinstance(b, Batch)]
    assert max(sizes) <= SERVERLESS_MAX_PAYLOAD_BYTES and sum(sizes) == 9 * 1_000_001


def test_batch_with_a_model_name_and_no_endpoint(api, models, env, capsys):
    csv_model, _, _ = models
    args = predict("--mode", "batch", "--model-name", "csv-batch", "--s3-uri", f"s3://{BUCKET}/batch")
    assert main(args) == 0, capsys.readouterr().err
    assert "batch: accounts scored with model csv-batch" in capsys.readouterr().out
    assert scores(api, "csv-batch") == expected_csv(api, csv_model)


def test_a_model_error_shows_its_first_line_and_logs_the_rest(api, models, env, tmp_path, capsys):
    csv_model, _, limit = models
    log = tmp_path / "predict.log"
    assert main(predict("--endpoint", "csv-picky", "--max-rows-per-request", "1", "--log-file", str(log))) == 1
    err = capsys.readouterr().err
    first = f"ModelError: the model answered HTTP 500: employees above {limit}: this model was not trained on such accounts"
    assert first in err and "Traceback" not in err and "second line" not in err
    assert "Traceback" in log.read_text() and "second line" in log.read_text()
    small = {r["id"]: float(csv_model.predict_proba(csv_matrix([r]))[0, 1])  # one row per request, as sent
             for r in accounts(api) if r["employees"] <= limit}  # fmt: skip
    assert scores(api, "csv-picky") == small  # every other row scored, exactly


# ---------------------------------------------------------------- fail fast

def list_requests(api, since: float, path: str = "/v1/accounts") -> list[str]:
    """The GET requests listing `path` since `since`, but for the connector's credentials probe
    (AppFlow's ValidateCredentials: one record, no filter), which reads no row to score."""
    lines = [line.split() for line in Path(api.request_log).read_text().splitlines()]
    found = [p for at, _, _, m, p in lines if float(at) >= since and m == "GET" and p.split("?")[0] == path]
    return [p for p in found if p.split("?", 1)[-1] != "limit=1"]


def refused(api, args: list[str], capsys) -> str:
    """Run predict; it must fail with one line, before any request lists the entity's rows."""
    since = time.time()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("saasbridge: error: "), err
    assert list_requests(api, since) == [], (args, err)
    return err


def test_fail_fast_cases_are_answered_before_any_row_is_read(api, models, env, capsys):
    import boto3

    from saasbridge.local.sagemaker.sdk_deploy import EXECUTION_ROLE, SKLEARN_IMAGE

    cases = {
        "endpoint nope not found in region us-east-1": predict("--endpoint", "nope"),
        "endpoint csv-rt is a realtime endpoint (no AsyncInferenceConfig)":
            predict("--endpoint", "csv-rt", "--mode", "async", "--s3-uri", f"s3://{BUCKET}/in"),
        "endpoint csv-sl is a serverless endpoint": predict("--endpoint", "csv-sl", "--mode", "async", "--s3-uri",
                                                            f"s3://{BUCKET}/in"),
        "endpoint csv-async is asynchronous: it takes no real-time requests": predict("--endpoint", "csv-async"),
        "--features 'employees,,is_active': name 2 is empty": ["predict", "accounts", "--endpoint", "csv-rt",
                                                               "--features", "employees,,is_active"],
        "--features country (String), tags (List): not numeric": predict("--endpoint", "csv-rt",
                                                                         features=["employees", "country", "tags"]),
        "--mode batch joins row ids to CSV lines; model csv-batch takes application/json":
            predict("--mode", "batch", "--model-name", "csv-batch", "--content-type", "application/json",
                    "--s3-uri", f"s3://{BUCKET}/b", features=JSON_FEATURES),
        "--model-name nothing-here: no such SageMaker model": predict("--mode", "batch", "--model-name",
                                                                      "nothing-here", "--s3-uri", f"s3://{BUCKET}/b"),
        "--role-arn 'arn:aws:iam::123:role/x': the account '123' is not 12 digits":
            predict("--endpoint", "csv-rt", "--role-arn", "arn:aws:iam::123:role/x"),
    }
    for message, args in cases.items():
        assert message in refused(api, args, capsys), message

    # an endpoint that failed to start: its archive is missing
    sm = boto3.client("sagemaker")
    sm.create_model(ModelName="broken", ExecutionRoleArn=EXECUTION_ROLE,
                    PrimaryContainer={"Image": SKLEARN_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/none/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName="broken", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "broken", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="broken", EndpointConfigName="broken")
    for _ in range(100):
        if sm.describe_endpoint(EndpointName="broken")["EndpointStatus"] != "Creating":
            break
        time.sleep(0.1)
    assert "endpoint broken is Failed, not InService" in refused(api, predict("--endpoint", "broken"), capsys)
    since = time.time()  # the control: the same check sees the rows a run reads
    assert main(predict("--endpoint", "csv-rt", "--model-name", "csv-rt-control")) == 0
    assert list_requests(api, since)


def test_feature_count_against_the_model_logs_input_schema(api, models, env, capsys):
    record = {"arn": "arn:aws:sagemaker:us-east-1:123456789012:model/csv-rt", "name": "csv-rt", "deleted": False,
              "input_schema": "employees:int,annual_revenue:double,is_active:boolean,country:string"}
    response = requests.put(f"{api.url}/v1/models/csv-rt-log", json=record, timeout=30,
                            headers={"Authorization": "Bearer demo-acme-key"})  # fmt: skip
    assert response.status_code in (200, 201), response.text
    try:
        err = refused(api, predict("--endpoint", "csv-rt"), capsys)
        assert "--features names 3 columns; model csv-rt's input schema in the model log has 4" in err
    finally:
        requests.delete(f"{api.url}/v1/models/csv-rt-log", headers={"Authorization": "Bearer demo-acme-key"}, timeout=30)


def test_sagemaker_down_is_named_as_such(api, models, env, monkeypatch, capsys):
    import socket

    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    err = refused(api, predict("--endpoint", "csv-rt"), capsys)
    assert f"SageMaker is unreachable at http://127.0.0.1:{port}" in err and "secret" not in err.lower()


def test_the_json_requests_carry_instances(api, models, env):
    """The body predict builds for one row is TensorFlow Serving's `{"instances": [...]}` with the
    text feature as text; sent as is, the model answers that row's own probabilities."""
    import boto3

    from saasbridge.sagemaker.inference.payload import JSON, encode_features, join_body

    _, json_model, _ = models
    row = accounts(api)[0]
    body = join_body([encode_features(row, JSON_FEATURES, JSON)], JSON)
    assert json.loads(body) == {"instances": [[float(row["employees"]), row["country"], float(row["is_active"])]]}
    answer = boto3.client("sagemaker-runtime").invoke_endpoint(EndpointName="json-rt", Body=body,
                                                               ContentType=JSON, Accept=JSON)  # fmt: skip
    [item] = json.loads(answer["Body"].read())["predictions"]
    assert item["probabilities"] == json_model.predict_proba(json_matrix([row]))[0].tolist()
