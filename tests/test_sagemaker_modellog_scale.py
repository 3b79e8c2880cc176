"""The model log in a large SageMaker account (the moto server, SageMaker calls counted with a
botocore event hook): importing one model costs the same calls among 500 models and 2,000 jobs as
in an account that holds only its own assets, and writes the same records; an incremental sync
describes and writes only what changed.

The 5,000-model account (20,000 jobs) is the `soak` case (seeding it through the moto server's API
takes minutes); `make bench` reports its calls and seconds (bench/modellog_scale.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from bench.modellog_scale import (
    PACKAGE_EVERY,
    TRANSFORMS_PER_MODEL,
    counting_calls,
    create_model_family,
    seed_account,
)
from saasbridge.runtime import Runtime
from saasbridge.sagemaker.modellog.related import MARGIN
from tests.sagemaker_assets import create_assets
from tests.test_sagemaker_modellog import (
    LOG_ENTITIES,
    _session,
    _stored,
    _without_system,
    expected_records,
    servers,
)

__all__ = ["servers"]  # the model-log suite's own moto server and reference API, for this module


@pytest.mark.parametrize(("url", "job"), [
    ("s3://b/training/churn-train-1/output/model.tar.gz", "churn-train-1"),
    ("s3://b/j1/output/model.tar.gz", "j1"),
    ("s3://b/output/model.tar.gz", None),  # no job folder
    ("s3://b/x/a_b/output/model.tar.gz", None),  # not a job name
    ("s3://b/x/j/output/model.tar.gz.bak", None),
    ("https://b.s3.amazonaws.com/j/output/model.tar.gz", None),
    ("s3:///j/output/model.tar.gz", None),
])
def test_the_training_job_named_by_artifacts(url, job):
    from saasbridge.sagemaker.modellog.related import training_job_named

    assert training_job_named(url) == job


def _import(region):
    from saasbridge.sagemaker.modellog import ModelLog

    session = _session(region)
    with counting_calls(session) as calls:
        ModelLog.open(session, Runtime.from_env().client()).import_model("churn-model")
    return calls


def _after_history() -> None:
    """What is created next comes later than the account's history (as a new training run does)."""
    time.sleep(MARGIN.total_seconds() + 0.1)


@pytest.mark.parametrize(("models", "alone", "crowded"), [
    (500, "ap-south-1", "eu-west-3"),
    pytest.param(5000, "ap-northeast-1", "eu-north-1", marks=[pytest.mark.soak, pytest.mark.timeout(1800)]),
])
def test_import_of_one_model_costs_the_same_calls_in_a_large_account(servers, models, alone, crowded):
    _moto, api = servers
    small = create_assets(_session(alone))
    alone_calls = _import(alone)
    assert _without_system(_stored(api, alone)) == expected_records(small, alone)

    seed_account(_session(crowded), models)
    _after_history()
    assets = create_assets(_session(crowded))
    calls = _import(crowded)
    assert _without_system(_stored(api, crowded)) == expected_records(assets, crowded)  # nothing of the crowd
    assert calls == alone_calls, (calls, alone_calls)
    # one describe per asset that may relate (2 transform jobs: churn-model's and the later other-model's)
    # and one tag read per record written: no listing of the account
    assert sum(calls.values()) <= 25 and "ListModels" not in calls and "ListTrainingJobs" not in calls, calls


def test_incremental_sync_describes_and_writes_only_what_changed(servers):
    from saasbridge.sagemaker.modellog import ModelLog

    _moto, api = servers
    region = "us-east-2"
    session = _session(region)
    role = seed_account(session, 40)
    assert ModelLog.open(session, Runtime.from_env().client()).sync().written["models"] == 40
    before = _stored(api, region)

    since = datetime.now(UTC)
    sm = session.client("sagemaker")
    sm.create_transform_job(  # a new job on an old model, and a whole new model with its jobs
        TransformJobName="late-batch", ModelName="bulk-model-00003",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/late/in.csv"}}},
        TransformOutput={"S3OutputPath": "s3://b/late/out/"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    create_model_family(sm, 40, role, f"bulk-{region}", endpoint=False, package=False)
    with counting_calls(session) as calls:
        result = ModelLog.open(session, Runtime.from_env().client(), since=since).sync()

    new_jobs = 1 + 1 + TRANSFORMS_PER_MODEL  # late-batch, the new training job and its transform jobs
    packages = len(range(0, 40, PACKAGE_EVERY))  # re-read every run: their listing has no modified time
    # the new model has no endpoint configuration: its default version is written with it
    assert result.written == {"ml_jobs": new_jobs, "models": 1, "model_versions": 1}
    described = {op: n for op, n in calls.items() if op.startswith("Describe")}
    assert described == {"DescribeTransformJob": 1 + TRANSFORMS_PER_MODEL, "DescribeTrainingJob": 1,
                         "DescribeModel": 1, "DescribeModelPackage": packages}, calls
    assert calls["ListTags"] == new_jobs + 1 + packages, calls  # tags of what was described, no others
    after = _stored(api, region)
    changed = {(e, i) for e in LOG_ENTITIES for i in after[e] if after[e][i] != before[e].get(i)}
    new_models = after["models"].keys() - before["models"].keys()
    assert changed == {("models", i) for i in new_models} | {("model_versions", i) for i in new_models} | {
        ("ml_jobs", i) for i in after["ml_jobs"].keys() - before["ml_jobs"].keys()}
    assert len(changed) == new_jobs + 2
