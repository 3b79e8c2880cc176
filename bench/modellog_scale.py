"""Importing one model from a large SageMaker account (the moto server): SageMaker calls and
seconds of `saasbridge sagemaker import --model` at 100 and at 5,000 models (four jobs each: one
training job and three transform jobs, so 5,000 models come with 20,000 jobs; every 25th model has
an endpoint configuration and an endpoint, every 50th a Model Registry package). The imported
model is created last, with the same assets, as after a training run; its import must cost the
same calls whatever the size of the account.

    python -m bench.modellog_scale [--quick]
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.support import API_KEY, Stopwatch, figure, run_from_command_line
from saasbridge.sagemaker.modellog.related import MARGIN

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sklearn:1.2"
INSTANCE = "ml.m5.large"
TRANSFORMS_PER_MODEL = 3
ENDPOINT_EVERY, PACKAGE_EVERY = 25, 50
GROUP = "bulk-group"


def model_name(i: int) -> str:
    return f"bulk-model-{i:05d}"


def create_model_family(sm: Any, i: int, role: str, bucket: str, *, endpoint: bool, package: bool) -> None:
    """Model i with its training job and transform jobs, and an endpoint and a package if asked."""
    job = f"bulk-train-{i:05d}"
    sm.create_training_job(
        TrainingJobName=job, RoleArn=role,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/bulk"},
        ResourceConfig={"InstanceType": INSTANCE, "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    artifacts = f"s3://{bucket}/bulk/{job}/output/model.tar.gz"
    sm.create_model(ModelName=model_name(i), ExecutionRoleArn=role,
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": artifacts})
    for k in range(TRANSFORMS_PER_MODEL):
        sm.create_transform_job(
            TransformJobName=f"bulk-batch-{i:05d}-{k}", ModelName=model_name(i),
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                            "S3Uri": f"s3://{bucket}/batch/{i}/{k}/in.csv"}}},
            TransformOutput={"S3OutputPath": f"s3://{bucket}/batch/{i}/{k}/out/"},
            TransformResources={"InstanceType": INSTANCE, "InstanceCount": 1},
        )
    if endpoint:
        sm.create_endpoint_config(EndpointConfigName=f"bulk-config-{i:05d}", ProductionVariants=[{
            "VariantName": "main", "ModelName": model_name(i), "InstanceType": INSTANCE, "InitialInstanceCount": 1}])
        sm.create_endpoint(EndpointName=f"bulk-endpoint-{i:05d}", EndpointConfigName=f"bulk-config-{i:05d}")
    if package:
        sm.create_model_package(ModelPackageGroupName=GROUP, InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": artifacts}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})


def seed_account(session: Any, models: int, *, workers: int = 4) -> str:
    """`models` model families through the moto server's API, a few at a time; returns the
    execution role ARN (for more families later)."""
    sm, iam = session.client("sagemaker"), session.client("iam")
    role = iam.create_role(RoleName=f"bulk-exec-{session.region_name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    bucket = f"bulk-{session.region_name}"
    with ThreadPoolExecutor(workers) as pool:  # boto3 clients are thread-safe
        list(pool.map(lambda i: create_model_family(sm, i, role, bucket, endpoint=i % ENDPOINT_EVERY == 0,
                                                    package=i % PACKAGE_EVERY == 0), range(models)))
    return role


@contextlib.contextmanager
def counting_calls(session: Any, service: str = "sagemaker") -> Iterator[Counter[str]]:
    """Count every API call that clients of `session` make to `service`, by operation, in the block."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    session.events.register(f"before-call.{service}", count)
    try:
        yield calls
    finally:
        session.events.unregister(f"before-call.{service}", count)


def timed_import(session_for: Callable[[], Any], name: str) -> tuple[Counter[str], float, dict[str, int]]:
    """(SageMaker calls by operation, seconds, records written) of one model's import into the model log."""
    from saasbridge.runtime import Runtime
    from saasbridge.sagemaker.modellog import ModelLog

    session = session_for()
    with counting_calls(session) as calls, Stopwatch() as watch:
        result = ModelLog.open(session, Runtime.from_env().client()).import_model(name)
    return calls, watch.seconds, result.written


def run(quick: bool = False) -> list[dict]:
    from saasbridge.local.env import temporary_env
    from saasbridge.local.processes import start_moto_server, start_reference_api
    from saasbridge.sagemaker.credentials import AwsAccess, aws_session

    sizes = (100, 500) if quick else (100, 5000)
    measured = []
    with start_moto_server() as moto, start_reference_api(scale=0.01, seed=7, rate_limit=0) as api, temporary_env(
        AWS_ENDPOINT_URL=moto.url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_MAX_ATTEMPTS="1", SAASBRIDGE_API_KEY=API_KEY, SAASBRIDGE_API_URL=api.url,
    ):
        for size, region in zip(sizes, ("eu-west-1", "eu-west-2"), strict=True):
            def session_for(region: str = region) -> Any:
                return aws_session(AwsAccess(region=region))

            with Stopwatch() as seeding:
                role = seed_account(session_for(), size - 1)
            time.sleep(MARGIN.total_seconds() + 0.1)  # the new model comes later than the account's history
            create_model_family(session_for().client("sagemaker"), size - 1, role, f"bulk-{region}",
                                endpoint=True, package=True)
            calls, seconds, written = timed_import(session_for, model_name(size - 1))
            measured.append((size, calls, seconds, written, seeding.seconds))
    (small, small_calls, *_), out = measured[0], []
    for size, calls, seconds, written, seeded in measured:
        total = sum(calls.values())
        out.append(figure(
            f"Model-log import of one model, {size:,} models and {size * (1 + TRANSFORMS_PER_MODEL):,} jobs "
            "in the account (moto): SageMaker calls", total, "calls", bound=sum(small_calls.values()),
            bound_label=f"same import, {small:,} models", ratio=total / sum(small_calls.values()),
            target="= the small account's", passed=calls == small_calls, seconds=seconds, calls=dict(calls),
            written=written, seed_seconds=seeded,
        ))
        out.append(figure(f"Model-log import of one model, {size:,} models: seconds", seconds, "s",
                          target="(informational)", calls=total))
    return out


def main() -> None:
    run_from_command_line(run, __doc__, quick_help="100 and 500 models")


if __name__ == "__main__":
    main()
