"""The SageMaker Python SDK (v2, the `sagemaker` package of the test extra), as a data scientist
calls it from a notebook, against the SageMaker stand-in: `Model.deploy` (SKLearnModel, its entry
point repacked into the archive), `Predictor.predict`, `Transformer.transform` and
`AsyncPredictor.predict`. Ground truth: the same scikit-learn model's own predictions in this
process, on feature values exact in float32 (the container's default decoder reads float32)."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

pytestmark = pytest.mark.slow

INFERENCE_SCRIPT = '''
import os

import joblib


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):
    return model.predict_proba(data)[:, 1]
'''
ROLE = "arn:aws:iam::123456789012:role/saasbridge-sagemaker"
BUCKET = "sdk-notebook"
POLL = 0.5  # the SDK's waits poll the stand-in (SageMaker itself would rather be polled every 30 s)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A classifier, its model directory, its entry point directory, and rows exact in float32."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(22)
    x = np.round(rng.random((40, 3)) * 64) / 8  # multiples of 1/8: the same in float32 and float64
    y = (x[:, 0] + x[:, 2] > 8).astype(int)
    model = LogisticRegression().fit(x, y)
    model_dir, code_dir = tmp_path_factory.mktemp("model"), tmp_path_factory.mktemp("code")
    joblib.dump(model, model_dir / "model.joblib")
    (code_dir / "inference.py").write_text(INFERENCE_SCRIPT)
    return model, model_dir, code_dir, x


@pytest.fixture
def session(sagemaker_env, monkeypatch):
    """A SageMaker SDK session on the stand-in (boto3 reaches it through AWS_ENDPOINT_URL)."""
    import boto3

    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    sagemaker = pytest.importorskip("sagemaker", reason="the SageMaker Python SDK is in the test extra")
    assert sagemaker.__version__.startswith("2."), "these are the SDK v2 calls (Model, Predictor, Transformer)"
    s3 = boto3.client("s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    return sagemaker.Session(boto_session=boto3.Session(region_name="us-east-1"), default_bucket=BUCKET)


def sklearn_model(session, fitted, name: str):
    import boto3
    from sagemaker.sklearn import SKLearnModel

    from saasbridge.local.sagemaker.sdk_deploy import upload_model

    _, model_dir, code_dir, _ = fitted
    url = upload_model(model_dir, f"s3://{BUCKET}/{name}/model.tar.gz", boto3.client("s3"))
    return SKLearnModel(model_data=url, role=ROLE, entry_point="inference.py", source_dir=str(code_dir),
                        framework_version="1.2-1", sagemaker_session=session, name=name)  # fmt: skip


def deploy(session, model, endpoint: str, **kwargs):
    predictor = model.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=endpoint,
                             wait=False, **kwargs)  # fmt: skip
    assert session.wait_for_endpoint(endpoint, poll=POLL)["EndpointStatus"] == "InService"
    return predictor


def test_model_deploy_and_predictor_predict(session, fitted):
    from sagemaker.deserializers import CSVDeserializer, JSONDeserializer
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer, JSONSerializer

    model, _, _, x = fitted
    expected = model.predict_proba(x)[:, 1]
    predictor = deploy(session, sklearn_model(session, fitted, "sdk-churn"), "sdk-churn")
    assert type(predictor).__name__ == "SKLearnPredictor"  # NumPy in, NumPy out: the SDK's default for scikit-learn
    np.testing.assert_array_equal(predictor.predict(x), expected)
    as_csv = Predictor("sdk-churn", session, serializer=CSVSerializer(), deserializer=CSVDeserializer())
    assert [float(row[0]) for row in as_csv.predict(x)] == expected.tolist()
    as_json = Predictor("sdk-churn", session, serializer=JSONSerializer(), deserializer=JSONDeserializer())
    assert as_json.predict(x.tolist()) == expected.tolist()


def test_requests_without_an_explicit_content_type(session, fitted):
    """As SageMaker documents: the request's ContentType and Accept go to the container as given.
    The SDK's plain Predictor sends application/octet-stream, which the scikit-learn container
    refuses with 415 (ModelError); with no Accept (`*/*`) the container answers its default, JSON."""
    import boto3
    from botocore.exceptions import ClientError
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer

    model, _, _, x = fitted
    deploy(session, sklearn_model(session, fitted, "sdk-defaults"), "sdk-defaults")
    plain = Predictor("sdk-defaults", session)
    assert plain.serializer.CONTENT_TYPE == "application/octet-stream" and plain.accept == ("*/*",)
    with pytest.raises(ClientError) as refused:
        plain.predict(b"1.0,2.0,3.0\n")
    error = refused.value.response
    assert error["Error"]["Code"] == "ModelError" and error["OriginalStatusCode"] == 415
    assert "Received client error (415) from primary" in error["Error"]["Message"]
    assert "application/octet-stream is not supported" in error["OriginalMessage"]
    csv_in = Predictor("sdk-defaults", session, serializer=CSVSerializer())  # Accept: */*
    assert json.loads(csv_in.predict(x)) == model.predict_proba(x)[:, 1].tolist()
    raw = boto3.client("sagemaker-runtime").invoke_endpoint(EndpointName="sdk-defaults", Body=b"[[1.0, 2.0, 3.0]]")
    assert raw["ContentType"] == "application/json"  # no ContentType: the container's default decoder (JSON)
    assert json.loads(raw["Body"].read()) == model.predict_proba(np.array([[1.0, 2.0, 3.0]]))[:, 1].tolist()


def test_transformer_transform(session, fitted):
    import boto3

    model, _, _, x = fitted
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key="transform-in/rows.csv", Body="\n".join(",".join(map(str, r)) for r in x).encode())
    transformer = sklearn_model(session, fitted, "sdk-batch").transformer(
        instance_count=1, instance_type="ml.m5.large", output_path=f"s3://{BUCKET}/transform-out",
        accept="text/csv", strategy="MultiRecord", assemble_with="Line",
    )  # fmt: skip
    transformer.transform(f"s3://{BUCKET}/transform-in/", content_type="text/csv", split_type="Line", wait=False)
    job = session.wait_for_transform_job(transformer.latest_transform_job.name, poll=POLL)
    assert job["TransformJobStatus"] == "Completed"
    out = s3.get_object(Bucket=BUCKET, Key="transform-out/rows.csv.out")["Body"].read().decode()
    assert [float(v) for v in out.split()] == model.predict_proba(x)[:, 1].tolist()


def test_async_predictor_predict(session, fitted):
    from sagemaker.async_inference import AsyncInferenceConfig, WaiterConfig

    model, _, _, x = fitted
    config = AsyncInferenceConfig(output_path=f"s3://{BUCKET}/async-out")
    predictor = deploy(session, sklearn_model(session, fitted, "sdk-async"), "sdk-async", async_inference_config=config)
    assert type(predictor).__name__ == "AsyncPredictor"
    got = predictor.predict(x, waiter_config=WaiterConfig(max_attempts=30, delay=POLL))
    np.testing.assert_array_equal(np.load(io.BytesIO(got)) if isinstance(got, bytes) else got, model.predict_proba(x)[:, 1])
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")  # nothing left this machine
