"""Units of the inference side: the Athena external-function prefix, prediction keys, and the
scoring Lambda's answers to malformed events (a typed error, never a crash)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saasbridge.errors import ConfigError, QueryError
from saasbridge.local.engine.external_functions import ExternalFunction, split_using
from saasbridge.sagemaker import scoring_handler
from saasbridge.sagemaker.inference.run import prediction_id


def test_using_external_function_prefix_is_split_from_the_select():
    functions, select = split_using(
        "USING EXTERNAL FUNCTION predict_churn(e DOUBLE, r double) RETURNS DOUBLE SAGEMAKER 'churn-ep',\n"
        "  EXTERNAL FUNCTION label(x INTEGER) RETURNS VARCHAR SAGEMAKER 'labeler'\n"
        "SELECT id, predict_churn(employees, annual_revenue) FROM crm.accounts"
    )
    assert functions == [
        ExternalFunction("predict_churn", (("e", "double"), ("r", "double")), "double", "churn-ep"),
        ExternalFunction("label", (("x", "integer"),), "varchar", "labeler"),
    ]
    assert select == "SELECT id, predict_churn(employees, annual_revenue) FROM crm.accounts"
    assert split_using("SELECT 1") == ([], "SELECT 1")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("USING FUNCTION f(x DOUBLE) RETURNS DOUBLE SAGEMAKER 'e' SELECT 1", "expected USING EXTERNAL FUNCTION"),
        ("USING EXTERNAL FUNCTION f(x DOUBLE) RETURNS DOUBLE SAGEMAKER 'e' DELETE FROM t", "followed by a SELECT"),
        ("USING EXTERNAL FUNCTION f(x) RETURNS DOUBLE SAGEMAKER 'e' SELECT 1", "is not `name type`"),
        ("USING EXTERNAL FUNCTION f(x MAP) RETURNS DOUBLE SAGEMAKER 'e' SELECT 1", "is not `name type`"),
        ("USING EXTERNAL FUNCTION f(x DOUBLE) RETURNS ARRAY SAGEMAKER 'e' SELECT 1", "unsupported return type"),
    ],
)
def test_malformed_external_functions_are_one_clear_error(sql, message):
    with pytest.raises(QueryError, match=message):
        split_using(sql)


@given(entity=st.sampled_from(["accounts", "contacts"]), row_id=st.text(min_size=1, max_size=200),
       model=st.text(min_size=1, max_size=80))  # fmt: skip
def test_prediction_ids_are_stable_valid_and_distinct(entity, row_id, model):
    key = prediction_id(entity, row_id, model)
    assert key == prediction_id(entity, row_id, model)
    assert 0 < len(key) <= 128 and all(c.isalnum() and c.isascii() or c in "_-.:" for c in key)
    assert key != prediction_id(entity, row_id + "x", model)
    assert key != prediction_id(entity, row_id, model + "x")


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        (None, 400, "BadRequest"),
        ("text", 400, "BadRequest"),
        ({}, 400, "BadRequest"),
        ({"pathParameters": {"name": "other"}, "body": "1,2\n"}, 403, "Forbidden"),
        ({"pathParameters": {"name": "churn-a"}, "body": "%%%", "isBase64Encoded": True}, 400, "BadRequest"),
        ({"pathParameters": {"name": "churn-a"}, "body": ""}, 400, "BadRequest"),
        ({"pathParameters": {"name": ["x"]}}, 400, "BadRequest"),
    ],
)
def test_scoring_handler_answers_malformed_events_with_a_typed_error(event, status, code, monkeypatch):
    monkeypatch.setenv("ALLOWED_ENDPOINTS", "churn-*")
    answer = scoring_handler.lambda_handler(event)
    assert answer["statusCode"] == status
    assert json.loads(answer["body"])["error"] == code


def test_scoring_handler_allow_list(monkeypatch):
    monkeypatch.setenv("ALLOWED_ENDPOINTS", "churn-rt")
    assert scoring_handler._allowed("churn-rt") and not scoring_handler._allowed("churn-rt2")
    monkeypatch.setenv("ALLOWED_ENDPOINTS", "")
    assert not scoring_handler._allowed("anything")
    monkeypatch.setenv("ALLOWED_ENDPOINTS", "*")
    assert scoring_handler._allowed("anything")


def test_scoring_handler_is_lean():
    """boto3 only: nothing local-only on the scoring Lambda's import path."""
    import subprocess
    import sys

    code = ("import sys, saasbridge.sagemaker.scoring_handler as h; "
            "print(sorted(m for m in ('pandas','duckdb','fastapi','moto','sklearn','sqlglot','rich','numpy','pyarrow') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_model_packages_declared_content_type_is_used(aws_env):
    """A model built from a registry package that declares JSON Lines gets JSON Lines; otherwise CSV
    (the control plane is the moto server)."""
    import boto3

    from saasbridge.sagemaker.inference import describe_endpoint

    session = boto3.Session()
    sm = session.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="units-churn")
    package = sm.create_model_package(
        ModelPackageGroupName="units-churn",
        InferenceSpecification={"Containers": [{"Image": "img", "ModelDataUrl": "s3://b/model.tar.gz"}],
                                "SupportedContentTypes": ["application/jsonlines", "text/csv"],
                                "SupportedResponseMIMETypes": ["application/jsonlines"]},
    )["ModelPackageArn"]  # fmt: skip
    role = "arn:aws:iam::123456789012:role/x"
    sm.create_model(ModelName="units-pkg", Containers=[{"ModelPackageName": package}], ExecutionRoleArn=role)
    sm.create_model(ModelName="units-plain", PrimaryContainer={"Image": "img", "ModelDataUrl": "s3://b/m.tar.gz"},
                    ExecutionRoleArn=role)  # fmt: skip
    variant = {"VariantName": "v", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    for name in ("units-pkg", "units-plain"):
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{**variant, "ModelName": name}])
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    assert describe_endpoint(session, "units-pkg").content_type == "application/jsonlines"
    plain = describe_endpoint(session, "units-plain")
    assert (plain.model, plain.content_type) == ("units-plain", "text/csv")
    assert describe_endpoint(session, "units-pkg", content_type="text/csv").content_type == "text/csv"
    with pytest.raises(ConfigError, match="endpoint no-such-endpoint not found in region us-east-1"):
        describe_endpoint(session, "no-such-endpoint")  # refused before any row is read


def test_a_runtime_only_role_scores_without_the_control_plane():
    """DescribeEndpoint denied (a role that may only invoke): the endpoint's name stands for the
    model, its kind is unknown (no mode check), CSV unless told (a Stubber: this module's unit test)."""
    import boto3
    from botocore.stub import Stubber

    from saasbridge.sagemaker.inference.endpoint import UNKNOWN, check_mode, describe_endpoint

    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")

    class Session:
        def client(self, name):
            return client

    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_client_error("describe_endpoint", "AccessDeniedException", "not authorized", 400)
        info = describe_endpoint(Session(), "scoring")
        assert (info.model, info.content_type, info.kind) == ("scoring", "text/csv", UNKNOWN)
        check_mode(info, "async")  # nothing known to refuse
        assert describe_endpoint(Session(), "scoring", content_type="application/json").content_type == "application/json"


def test_a_refused_assume_role_is_said_as_such():
    """AssumeRole denied (the role does not trust us, a wrong external id) is a credentials error,
    not taken for a runtime-only role (a client that refuses: this module's unit test)."""
    from botocore.exceptions import ClientError

    from saasbridge.sagemaker.inference.endpoint import check_model, describe_endpoint

    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized to perform sts:AssumeRole"}},
                         "AssumeRole")  # fmt: skip

    class Refusing:
        class meta:
            region_name, endpoint_url = "us-east-1", "https://api.sagemaker.us-east-1.amazonaws.com"

        def __getattr__(self, name):
            def call(**_kwargs):
                raise denied

            return call

    class Session:
        def client(self, name):
            return Refusing()

    for attempt in (lambda: describe_endpoint(Session(), "scoring"), lambda: check_model(Session(), "m")):
        with pytest.raises(ConfigError, match="cannot get AWS credentials: AssumeRole failed: AccessDenied"):
            attempt()


def test_no_credentials_is_said_as_such(monkeypatch, tmp_path):
    """No credentials anywhere: the error says so, not that SageMaker is unreachable."""
    import boto3

    from saasbridge.sagemaker.inference.endpoint import describe_endpoint

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached: nothing to sign with
    with pytest.raises(ConfigError, match="no AWS credentials for SageMaker"):
        describe_endpoint(boto3.Session(region_name="us-east-1"), "scoring")
