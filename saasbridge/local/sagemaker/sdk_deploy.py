"""Deploy a trained model directory the way the SageMaker Python SDK does, with plain boto3 calls
(so the same code deploys to the stand-in or to SageMaker): pack and upload `model.tar.gz`,
CreateModel (scikit-learn image, `SAGEMAKER_PROGRAM`), CreateEndpointConfig, CreateEndpoint, wait.

    url = upload_model("model/", "s3://models/contacts/model.tar.gz", s3)
    deploy_endpoint("contacts", url, sagemaker)            # real-time
    deploy_endpoint("contacts-async", url, sagemaker, async_output="s3://models/async-out")
    deploy_endpoint("contacts-serverless", url, sagemaker, serverless={"MemorySizeInMB": 2048, "MaxConcurrency": 2})
"""

from __future__ import annotations

import os
from typing import Any

from saasbridge.local.sagemaker.model_archive import pack_model_dir
from saasbridge.s3url import parse_s3_url
from saasbridge.sagemaker.training.script_mode import SKLEARN_IMAGES
from saasbridge.sagemaker.waiting import ENDPOINT, TRANSFORM_JOB, wait_for

SKLEARN_IMAGE = SKLEARN_IMAGES["us-east-1"]
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/saasbridge-sagemaker"
POLL_SECONDS = 0.2  # the stand-in answers in seconds; a deployment to AWS would rather poll every 15-30 s


def upload_model(model_dir: str | os.PathLike, s3_url: str, s3: Any) -> str:
    """Pack `model_dir` as SageMaker packs a model and put it at `s3_url`; returns `s3_url`."""
    where = parse_s3_url(s3_url, "the model URL", need_key=True)
    s3.put_object(Bucket=where.bucket, Key=where.key, Body=pack_model_dir(model_dir))
    return s3_url


def deploy_endpoint(
    name: str,
    model_data_url: str,
    sagemaker: Any,
    *,
    program: str = "train.py",
    environment: dict[str, str] | None = None,
    async_output: str | None = None,
    serverless: dict[str, int] | None = None,
    instance_type: str = "ml.m5.large",
    role_arn: str = EXECUTION_ROLE,
    timeout: float = 300.0,
    poll: float = POLL_SECONDS,
) -> dict[str, Any]:
    """Model, endpoint configuration and endpoint all named `name`; waits for InService and returns
    DescribeEndpoint (raises RuntimeError with the FailureReason when the endpoint fails or is still
    not in service after `timeout` seconds)."""
    env = {"SAGEMAKER_PROGRAM": program, "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code", **(environment or {})}
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=role_arn,
                           PrimaryContainer={"Image": SKLEARN_IMAGE, "ModelDataUrl": model_data_url, "Environment": env})  # fmt: skip
    variant: dict[str, Any] = {"VariantName": "AllTraffic", "ModelName": name}
    if serverless:  # e.g. {"MemorySizeInMB": 2048, "MaxConcurrency": 5}: no instances
        variant["ServerlessConfig"] = serverless
    else:
        variant.update(InitialInstanceCount=1, InstanceType=instance_type)
    config: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": [variant]}
    if async_output:
        base = async_output.rstrip("/")
        config["AsyncInferenceConfig"] = {"OutputConfig": {"S3OutputPath": base, "S3FailurePath": base + "-failures"}}
    sagemaker.create_endpoint_config(**config)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    waited = wait_for(sagemaker, ENDPOINT, name, timeout=timeout, poll=poll)
    if waited.timed_out:
        raise RuntimeError(f"endpoint {name} {waited.timeout_note(timeout)}")
    if waited.status != "InService":
        raise RuntimeError(f"endpoint {name} is {waited.status}: {waited.description.get('FailureReason', '')}")
    return waited.description


def wait_for_transform_job(sagemaker: Any, name: str, timeout: float = 600.0, poll: float = POLL_SECONDS) -> dict[str, Any]:
    """DescribeTransformJob once the job has finished; a job still running at the timeout is stopped
    (saasbridge.sagemaker.waiting's rule) and its description says so."""
    return wait_for(sagemaker, TRANSFORM_JOB, name, timeout=timeout, poll=poll).description
