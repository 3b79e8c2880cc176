"""The one "AWS error in one line" (saasbridge/errors.py): the errors botocore itself raises (a
stubbed service error, a connection failure) become `Code: message` on one line, never longer
than 300 characters of message, without an error page's markup."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from saasbridge.errors import aws_error_code, aws_error_line, aws_error_message


def _service_error(code: str, message: str) -> Exception:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(s3) as stub:
        stub.add_client_error("get_object", service_error_code=code, service_message=message, http_status_code=404)
        with pytest.raises(Exception) as caught:
            s3.get_object(Bucket="b", Key="k")
    return caught.value


def test_a_service_error_is_its_code_and_message_on_one_line():
    exc = _service_error("NoSuchKey", "The specified key\n  does not exist.")
    assert aws_error_code(exc) == "NoSuchKey"
    assert aws_error_line(exc) == "NoSuchKey: The specified key does not exist."


def test_an_error_page_loses_its_markup_and_a_long_message_is_cut():
    exc = _service_error("502", "<html><body><h1>Bad Gateway</h1></body></html>")
    assert aws_error_line(exc) == "502: Bad Gateway"
    assert len(aws_error_message(_service_error("X", "word " * 200))) == 300


def test_an_error_without_a_service_answer_is_named_by_its_type():
    exc = EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")
    assert aws_error_line(exc) == 'EndpointConnectionError: Could not connect to the endpoint URL: "http://127.0.0.1:9/"'
    assert aws_error_line(ValueError("a\nb")) == "ValueError: a b"


@pytest.mark.parametrize("code", ["NoSuchKey", "ResourceNotFound", "ResourceNotFoundException"])
def test_a_missing_resource_is_none_when_the_caller_allows_it(code):
    """CloudWatch Logs (a training job's log group before its first line) says ResourceNotFoundException."""
    from saasbridge.sagemaker.aws import AwsCallError, AwsService

    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    service = AwsService(logs)
    with Stubber(logs) as stub:
        stub.add_client_error("describe_log_streams", service_error_code=code, http_status_code=400)
        assert service.call("describe_log_streams", missing=True, logGroupName="/aws/sagemaker/TrainingJobs") is None
        stub.add_client_error("describe_log_streams", service_error_code=code, http_status_code=400)
        with pytest.raises(AwsCallError, match=f"logs:DescribeLogStreams failed: {code}"):
            service.call("describe_log_streams", logGroupName="/aws/sagemaker/TrainingJobs")
