"""AWS sessions for the SageMaker side (saasbridge.sagemaker.credentials) against moto's STS, the
one-line AWS errors (a botocore Stubber inside this module's unit tests), and the lean import path
of the model-log Lambda."""

from __future__ import annotations

import subprocess
import sys

import pytest

from saasbridge.errors import ConfigError
from saasbridge.sagemaker.credentials import AwsAccess, aws_session, parse_group_roles

ROLE = "arn:aws:iam::123456789012:role/modellog-reader"
ADMIN = "arn:aws:iam::123456789012:role/modellog-admin"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
TOKEN_TEXT = "eyJhbGciOiJSUzI1NiJ9.secret-token-body"


def _caller(session):
    return session.client("sts").get_caller_identity()["Arn"]


def test_default_chain_and_static_keys(aws_env):
    assert _caller(aws_session()) == "arn:aws:sts::123456789012:user/moto"
    static = aws_session(AwsAccess(region="eu-west-1", access_key_id="AKIASTATIC", secret_access_key=SECRET))
    assert static.region_name == "eu-west-1" and static.get_credentials().access_key == "AKIASTATIC"


def test_web_identity_token_file(aws_env, tmp_path):
    token = tmp_path / "token"
    token.write_text(TOKEN_TEXT)
    session = aws_session(AwsAccess(region="us-east-1", role_arn=ROLE, web_identity_token_file=str(token)))
    assert _caller(session) == "arn:aws:sts::123456789012:assumed-role/modellog-reader/saasbridge"


def test_assume_role_with_external_id_and_group_mapping(aws_env):
    access = AwsAccess(region="us-east-1", role_arn=ROLE, external_id="ext-1234")
    assert _caller(aws_session(access)).endswith(":assumed-role/modellog-reader/saasbridge")
    groups = {"data-science": ADMIN, "analysts": ROLE}
    by_group = AwsAccess(region="us-east-1", group="data-science", group_roles=groups, role_arn=ROLE)
    assert _caller(aws_session(by_group)).endswith(":assumed-role/modellog-admin/saasbridge")
    with pytest.raises(ConfigError, match="group 'sales' has no AWS role mapped; mapped groups: analysts, data-science"):
        aws_session(AwsAccess(group="sales", group_roles=groups, role_arn=ROLE))  # never falls back to role_arn


def test_from_env_and_group_roles_parsing():
    env = {
        "SAASBRIDGE_AWS_REGION": "eu-central-1", "SAASBRIDGE_AWS_ACCESS_KEY_ID": "AKIAENV",
        "SAASBRIDGE_AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ROLE_ARN": ROLE,
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token", "SAASBRIDGE_AWS_GROUP_ROLES": f'{{"ds": "{ADMIN}"}}',
    }
    access = AwsAccess.from_env(env, group="ds")
    assert (access.region, access.role_arn, access.web_identity_token_file) == ("eu-central-1", ROLE, "/var/run/token")
    assert access.effective_role() == ADMIN
    assert parse_group_roles(f"ds={ADMIN}, an={ROLE}") == {"ds": ADMIN, "an": ROLE}
    for bad, why in (("{nope", "invalid JSON"), ('["x"]', "JSON object"), ("ds", "not GROUP=ROLE_ARN")):
        with pytest.raises(ConfigError, match=why):
            parse_group_roles(bad)


def test_no_secret_in_repr_or_description():
    access = AwsAccess(access_key_id="AKIASTATIC", secret_access_key=SECRET, session_token="tok-" + SECRET,
                       external_id="ext-secret-id", role_arn=ROLE, web_identity_token_file="/t")
    for text in (repr(access), access.describe(), str(access)):
        assert SECRET not in text and "ext-secret-id" not in text
    with pytest.raises(ConfigError) as exc:
        aws_session(AwsAccess(access_key_id="AKIASTATIC"))
    assert "secret access key" in str(exc.value)


def test_access_denied_names_the_iam_action():
    import boto3
    from botocore.stub import Stubber

    from saasbridge.sagemaker.aws import AwsAccessDenied, AwsCallError, AwsService

    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    sm = AwsService(client)
    with Stubber(client) as stub:
        stub.add_client_error("describe_model", "AccessDeniedException", "User: arn:aws:sts::1:assumed-role/r is "
                              "not authorized to perform: sagemaker:DescribeModel", 400)
        with pytest.raises(AwsAccessDenied) as denied:
            sm.call("describe_model", ModelName="m")
        stub.add_client_error("describe_model", "ValidationException", "Could not find model \"m\".", 400)
        assert sm.call("describe_model", missing=True, ModelName="m") is None
        stub.add_client_error("list_models", "ThrottlingException", "Rate\nexceeded", 400)
        with pytest.raises(AwsCallError) as other:
            list(sm.pages("list_models", "Models"))
    assert str(denied.value) == ("AWS denied sagemaker:DescribeModel; grant the IAM action sagemaker:DescribeModel "
                                 "to the role or user saasbridge uses")
    assert str(other.value) == "sagemaker:ListModels failed: ThrottlingException: Rate exceeded"


def test_model_log_lambda_imports_nothing_local_only():
    from saasbridge.build.lambda_package import LOCAL_ONLY

    code = ("import sys, saasbridge.sagemaker.lambda_sync, saasbridge.sagemaker.modellog.deploy; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert loaded.isdisjoint(LOCAL_ONLY), loaded & set(LOCAL_ONLY)
