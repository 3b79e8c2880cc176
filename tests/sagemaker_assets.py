"""SageMaker assets created with boto3 on the moto server, for the model-log tests.

The moto server records jobs (as Completed) but runs nothing: no training writes artifacts and no
transform writes output, so the tests put those S3 objects themselves where a job would have.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sklearn:1.2"
INSTANCE = "ml.m5.large"
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Assets:
    role_arn: str
    artifacts: str
    model: dict  # describe_model
    other_model: dict
    training: dict  # describe_training_job
    transform: dict  # describe_transform_job
    other_transform: dict
    config: dict  # describe_endpoint_config
    endpoint: dict  # describe_endpoint
    package: dict  # describe_model_package
    card: dict  # describe_model_card of churn-model's card
    quality: dict  # the model quality report the package's ModelMetrics point to


@contextmanager
def modellog_servers() -> Iterator[tuple[Any, Any]]:
    """A moto server and reference API of the caller's own, with boto3 and the SaaS client pointed at them."""
    from saasbridge.local.processes import start_moto_server, start_reference_api
    from tests.conftest import DEMO_KEYS

    with (
        start_moto_server() as moto,
        start_reference_api(scale=0.01, seed=7, rate_limit=0) as api,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("AWS_ENDPOINT_URL", moto.url)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_MAX_ATTEMPTS", "1")  # moto answers some calls with a 500; do not retry them
        mp.setenv("SAASBRIDGE_API_KEY", DEMO_KEYS["acme"])
        mp.setenv("SAASBRIDGE_API_URL", api.url)
        yield moto, api


def bucket_of(region: str) -> str:
    """S3 bucket names are global: one bucket per region keeps each test's objects apart."""
    return f"sm-modellog-{region}"


def create_assets(session: Any) -> Assets:
    """A model with its training job and artifacts, a transform job, an endpoint configuration and
    endpoint, a model package group with two versions (one with the same artifacts), and an
    unrelated model with its own transform job."""
    sm, s3, iam = session.client("sagemaker"), session.client("s3"), session.client("iam")
    region = session.region_name
    bucket = bucket_of(region)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    role = iam.create_role(RoleName=f"sm-exec-{region}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sm.create_training_job(
        TrainingJobName="churn-train-1",
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=role,
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/train/"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/training"},
        ResourceConfig={"InstanceType": INSTANCE, "InstanceCount": 2, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        Tags=[{"Key": "team", "Value": "ml"}],
    )
    artifacts = f"s3://{bucket}/training/churn-train-1/output/model.tar.gz"
    s3.put_object(Bucket=bucket, Key="training/churn-train-1/output/model.tar.gz", Body=b"not a real model")
    sm.create_model(
        ModelName="churn-model",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": artifacts,
                          "Environment": {"SAGEMAKER_PROGRAM": "train.py", "DB_PASSWORD": "hunter2"}},
        ExecutionRoleArn=role,
        VpcConfig={"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]},
        Tags=[{"Key": "team", "Value": "ml"}, {"Key": "log", "Value": "yes"}],
    )
    sm.create_model(
        ModelName="other-model",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/elsewhere/model.tar.gz"},
        ExecutionRoleArn=role,
    )
    for job, model in (("churn-batch-1", "churn-model"), ("other-batch-1", "other-model")):
        sm.create_transform_job(
            TransformJobName=job, ModelName=model,
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                            "S3Uri": f"s3://{bucket}/batch/{job}/in.csv"}},
                            "ContentType": "text/csv", "SplitType": "Line"},
            TransformOutput={"S3OutputPath": f"s3://{bucket}/batch/{job}/out/"},
            TransformResources={"InstanceType": INSTANCE, "InstanceCount": 1},
        )
    sm.create_endpoint_config(
        EndpointConfigName="churn-config-1",
        ProductionVariants=[{"VariantName": "main", "ModelName": "churn-model", "InstanceType": INSTANCE,
                             "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}],
    )
    sm.create_endpoint(EndpointName="churn-endpoint", EndpointConfigName="churn-config-1")
    sm.create_model_package_group(ModelPackageGroupName="churn-group")
    quality = {"version": 0.0, "binary_classification_metrics": {
        "accuracy": {"value": 0.91, "standard_deviation": 0.01}, "auc": {"value": 0.88}, "label": "churned"}}
    s3.put_object(Bucket=bucket, Key="metrics/quality.json", Body=json.dumps(quality).encode())
    metrics = {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                               "S3Uri": f"s3://{bucket}/metrics/quality.json"}}}
    for url in (f"s3://{bucket}/elsewhere/v0.tar.gz", artifacts):
        sm.create_model_package(
            ModelPackageGroupName="churn-group",
            InferenceSpecification={"Containers": [{"Image": IMAGE, "ModelDataUrl": url}],
                                    "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
            ModelApprovalStatus="PendingManualApproval",
            CustomerMetadataProperties={"owner": "ml-team"},
            **({"ModelMetrics": metrics} if url == artifacts else {}),
        )
    churn_arn = sm.describe_model(ModelName="churn-model")["ModelArn"]
    sm.create_model_card(ModelCardName="churn-card", ModelCardStatus="Draft", Content=json.dumps(
        {"model_overview": {"model_id": churn_arn, "model_description": "who will churn"}}))
    package_arn = sm.list_model_packages(ModelPackageGroupName="churn-group")["ModelPackageSummaryList"]
    package = next(
        d for d in (sm.describe_model_package(ModelPackageName=p["ModelPackageArn"]) for p in package_arn)
        if d["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == artifacts
    )
    return Assets(
        role_arn=role, artifacts=artifacts,
        model=sm.describe_model(ModelName="churn-model"),
        other_model=sm.describe_model(ModelName="other-model"),
        training=sm.describe_training_job(TrainingJobName="churn-train-1"),
        transform=sm.describe_transform_job(TransformJobName="churn-batch-1"),
        other_transform=sm.describe_transform_job(TransformJobName="other-batch-1"),
        config=sm.describe_endpoint_config(EndpointConfigName="churn-config-1"),
        endpoint=sm.describe_endpoint(EndpointName="churn-endpoint"),
        package=package,
        card=sm.describe_model_card(ModelCardName="churn-card"),
        quality=quality,
    )


def extract_and_train(api_url: str, moto_url: str, tmp: Path, features: list[str],
                      fits: dict[str, list[str]]) -> tuple[Path, dict[str, Path]]:
    """`saasbridge extract --for-training is_active` of accounts, then examples/train.py fitted on it
    once per entry of `fits` (name → extra arguments), as SageMaker runs it: (the run folder, name →
    model folder)."""
    env = {**os.environ, "SAASBRIDGE_API_KEY": "demo-acme-key", "AWS_ENDPOINT_URL": moto_url,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run([sys.executable, "-m", "saasbridge", "extract", "accounts", "--to", str(tmp / "out"), "--flow-name",
                    "a", "--fields", ",".join([*features, "is_active"]), "--for-training", "is_active", "--api-url",
                    api_url, "--no-progress"], env=env, check=True, capture_output=True, timeout=120)  # fmt: skip
    [run_dir] = (tmp / "out" / "a" / "_training").iterdir()
    models = {}
    for name, extra in fits.items():
        subprocess.run([sys.executable, str(ROOT / "examples" / "train.py"), "--train", str(run_dir / "train"),
                        "--model-dir", str(tmp / name), *extra], check=True, capture_output=True, timeout=120)  # fmt: skip
        models[name] = tmp / name
    return run_dir, models
