"""Waiting on SageMaker (saasbridge/sagemaker/waiting.py): SageMaker's own waiters against the moto
server for what finishes, and the rule at the timeout (a job is stopped, an endpoint left as it is,
a refused stop reported) on botocore's Stubber, which feeds the real waiter the answers of a job
that never finishes. `poll_until` on its own."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from saasbridge.sagemaker.aws import AwsCallError
from saasbridge.sagemaker.waiting import ENDPOINT, TRAINING_JOB, TRANSFORM_JOB, poll_until, wait_for

ROLE = "arn:aws:iam::123456789012:role/saasbridge-sagemaker"


def _model(sm, name: str) -> None:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1",
                                      "ModelDataUrl": "s3://models/m/model.tar.gz"})  # fmt: skip


def test_an_endpoint_in_service_and_a_finished_transform_job(aws_env):
    sm = boto3.client("sagemaker")
    _model(sm, "wait-model")
    sm.create_endpoint_config(EndpointConfigName="wait-config", ProductionVariants=[
        {"VariantName": "v", "ModelName": "wait-model", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])  # fmt: skip
    sm.create_endpoint(EndpointName="wait-endpoint", EndpointConfigName="wait-config")
    waited = wait_for(sm, ENDPOINT, "wait-endpoint", timeout=5, poll=0.1)
    assert (waited.status, waited.timed_out, waited.stopped) == ("InService", False, False)
    assert waited.description == sm.describe_endpoint(EndpointName="wait-endpoint") | {
        "ResponseMetadata": waited.description["ResponseMetadata"]}  # fmt: skip

    sm.create_transform_job(
        TransformJobName="wait-job", ModelName="wait-model",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://in/x"}}},
        TransformOutput={"S3OutputPath": "s3://out/x"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )  # fmt: skip
    waited = wait_for(sm, TRANSFORM_JOB, "wait-job", timeout=5, poll=0.1)
    assert (waited.status, waited.timed_out) == ("Completed", False)
    assert waited.description["TransformJobName"] == "wait-job"


def test_waiting_on_what_does_not_exist_is_one_aws_error_line(aws_env):
    with pytest.raises(AwsCallError) as caught:
        wait_for(boto3.client("sagemaker"), ENDPOINT, "no-such-endpoint", timeout=1, poll=0.1)
    assert "sagemaker:DescribeEndpoint failed: ValidationException" in str(caught.value)
    assert "\n" not in str(caught.value)


def _stubbed():
    sm = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    return sm, Stubber(sm)


def _job(status: str) -> dict:
    return {"TransformJobName": "j", "TransformJobArn": "arn:aws:sagemaker:us-east-1:123456789012:transform-job/j",
            "TransformJobStatus": status, "ModelName": "m", "CreationTime": "2026-01-01T00:00:00Z",
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}}},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}  # fmt: skip


@pytest.mark.parametrize("timeout, poll, looks", [(0, 0.5, 1), (0.2, 0.1, 3), (0.25, 0.1, 4)])
def test_a_job_still_running_at_the_timeout_is_stopped(timeout, poll, looks):
    """The waiter looks once, then once per interval until the timeout; then the job is stopped."""
    sm, stub = _stubbed()
    for _ in range(looks + 1):  # the waiter's looks, then the one that decides
        stub.add_response("describe_transform_job", _job("InProgress"), {"TransformJobName": "j"})
    stub.add_response("stop_transform_job", {}, {"TransformJobName": "j"})
    stub.add_response("describe_transform_job", _job("Stopping"), {"TransformJobName": "j"})
    with stub:
        waited = wait_for(sm, TRANSFORM_JOB, "j", timeout=timeout, poll=poll)
        stub.assert_no_pending_responses()
    assert (waited.status, waited.timed_out, waited.stopped) == ("InProgress", True, True)
    assert waited.description["TransformJobStatus"] == "Stopping"
    assert waited.timeout_note(timeout) == f"still InProgress after {timeout:.0f} s (stopped)"


def test_a_refused_stop_is_reported_not_raised():
    sm, stub = _stubbed()
    for _ in range(2):
        stub.add_response("describe_transform_job", _job("InProgress"), {"TransformJobName": "j"})
    stub.add_client_error("stop_transform_job", "ValidationException", "Job j is not in progress")
    with stub:
        waited = wait_for(sm, TRANSFORM_JOB, "j", timeout=0, poll=1)
    assert (waited.timed_out, waited.stopped) == (True, False)
    assert waited.timeout_note(0) == ("still InProgress after 0 s (stopping it failed: sagemaker:StopTransformJob "
                                      "failed: ValidationException: Job j is not in progress)")  # fmt: skip


def test_a_failed_job_is_finished_and_not_stopped():
    sm, stub = _stubbed()
    stub.add_response("describe_transform_job", _job("Failed"), {"TransformJobName": "j"})
    stub.add_response("describe_transform_job", _job("Failed") | {"FailureReason": "bad model"}, {"TransformJobName": "j"})
    with stub:
        waited = wait_for(sm, TRANSFORM_JOB, "j", timeout=60, poll=1)  # the waiter stops at the failure state
        stub.assert_no_pending_responses()
    assert (waited.status, waited.timed_out, waited.description["FailureReason"]) == ("Failed", False, "bad model")


def test_an_endpoint_still_creating_is_left_as_it_is():
    sm, stub = _stubbed()
    endpoint = {"EndpointName": "e", "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e",
                "EndpointConfigName": "c", "EndpointStatus": "Creating", "CreationTime": "2026-01-01T00:00:00Z",
                "LastModifiedTime": "2026-01-01T00:00:00Z"}  # fmt: skip
    for _ in range(2):
        stub.add_response("describe_endpoint", endpoint, {"EndpointName": "e"})
    with stub:  # any call beyond the two looks (a delete, an update) would fail the Stubber
        waited = wait_for(sm, ENDPOINT, "e", timeout=0, poll=1)
        stub.assert_no_pending_responses()
    assert (waited.status, waited.timed_out, waited.stopped) == ("Creating", True, False)
    assert waited.timeout_note(0) == "still Creating after 0 s"


def test_the_waiters_exist_in_botocore():
    sm = boto3.client("sagemaker", region_name="us-east-1")
    for resource in (ENDPOINT, TRANSFORM_JOB, TRAINING_JOB):
        waiter = sm.get_waiter(resource.waiter)
        assert waiter.config.operation == "".join(p.title() for p in resource.describe.split("_"))
        for stop in filter(None, [resource.stop]):
            assert stop in sm.meta.method_to_api_mapping


def test_poll_until_answers_the_first_value_or_none_at_the_timeout():
    looks, slept = iter([None, None, "approved"]), []
    assert poll_until(lambda: next(looks), timeout=10, poll=3, sleep=slept.append) == "approved"
    assert slept == [3, 3]
    slept.clear()
    assert poll_until(lambda: None, timeout=7, poll=3, sleep=slept.append) is None
    assert slept == [3, 3, 1]  # never past the timeout
    assert poll_until(lambda: None, timeout=0, poll=3, sleep=slept.append) is None and slept == [3, 3, 1]


def test_an_error_during_the_wait_does_not_count_as_the_timeout():
    """botocore's waiter gives up on an error it has no acceptor for; the wait goes on until the
    timeout instead of stopping a job that is still running."""
    sm, stub = _stubbed()
    stub.add_response("describe_transform_job", _job("InProgress"), {"TransformJobName": "j"})
    stub.add_client_error("describe_transform_job", "ResourceInUse", "busy", http_status_code=400)
    stub.add_response("describe_transform_job", _job("InProgress"), {"TransformJobName": "j"})
    stub.add_response("describe_transform_job", _job("Completed"), {"TransformJobName": "j"})
    stub.add_response("describe_transform_job", _job("Completed"), {"TransformJobName": "j"})
    with stub:
        waited = wait_for(sm, TRANSFORM_JOB, "j", timeout=60, poll=0.05)
        stub.assert_no_pending_responses()
    assert (waited.status, waited.timed_out, waited.stopped) == ("Completed", False, False)
