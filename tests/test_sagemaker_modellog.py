"""The SageMaker model log against the moto server (SageMaker, S3, IAM, STS) and the reference API.

Each test works in its own AWS region of one moto server, so their assets never meet; expected
records are written out from what SageMaker itself answers (describe_*), field by field.
Where moto cannot do what SageMaker does (it records jobs as Completed but runs nothing), the test
says so and supplies the job's output itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from demo_saas.store import dump_records
from saasbridge.runtime import Runtime
from tests.conftest import DEMO_KEYS
from tests.sagemaker_assets import IMAGE, INSTANCE, bucket_of, create_assets

LOG_ENTITIES = ("models", "model_versions", "deployments", "ml_jobs", "approvals")
SYSTEM = ("created_at", "updated_at")


@pytest.fixture(scope="module")
def servers():
    """Our own moto server and reference API (this module's assets and records are its alone)."""
    from saasbridge.local.processes import start_moto_server, start_reference_api

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


def _session(region):
    from saasbridge.sagemaker.credentials import AwsAccess, aws_session

    return aws_session(AwsAccess(region=region))


def _log(region, since=None):
    from saasbridge.sagemaker.modellog import ModelLog

    return ModelLog.open(_session(region), Runtime.from_env().client(), since=since)


def _stored(api, region):
    """Every model-log record of this region's assets, as the API stores them, by entity and id."""
    out = {}
    for entity in LOG_ENTITIES:
        rows = dump_records(api.db_path, "acme", entity)
        key = "model_arn" if entity == "approvals" else "arn"
        out[entity] = {r["id"]: r for r in rows if f":{region}:" in r[key]}
    return out


def _ms(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _console(region, page, name):
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/{page}/{name}"


def _json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _id(arn):
    return arn.replace("/", ":")


def expected_records(a, region) -> dict[str, dict[str, dict]]:
    """The model log an import of churn-model must hold, spelled out from SageMaker's answers."""
    model_arn, training, transform = a.model["ModelArn"], a.training, a.transform
    config, endpoint, package = a.config, a.endpoint, a.package
    model = {
        "arn": model_arn, "name": "churn-model", "created_time": _ms(a.model["CreationTime"]),
        "containers": json.dumps([{"environment": {"DB_PASSWORD": "(redacted)", "SAGEMAKER_PROGRAM": "train.py"},
                                   "image": IMAGE, "mode": None, "model_data_url": a.artifacts}],
                                 sort_keys=True, separators=(",", ":")),
        "execution_role_arn": a.role_arn,
        "network": '{"network_isolation":false,"vpc_config":{"SecurityGroupIds":["sg-1"],"Subnets":["subnet-1"]}}',
        "training_job_arn": training["TrainingJobArn"], "model_package_arn": package["ModelPackageArn"],
        "endpoint_arns": [endpoint["EndpointArn"]],
        "documentation_url": None, "input_schema": None, "test_data_url": None, "test_expected_url": None,
        "input_content_type": None, "output_content_type": None,
        "training_job_id": _id(training["TrainingJobArn"]), "model_package_id": _id(package["ModelPackageArn"]),
        "endpoint_config_ids": [_id(config["EndpointConfigArn"])], "endpoint_ids": [_id(endpoint["EndpointArn"])],
        "model_card": _json({"arn": a.card["ModelCardArn"], "name": "churn-card", "status": "Draft",
                             "version": a.card["ModelCardVersion"], "console_url": _console(region, "model-cards", "churn-card"),
                             "content": {"model_overview": {"model_id": model_arn, "model_description": "who will churn"}}}),
        "tags": {"team": "ml", "log": "yes"}, "console_url": _console(region, "models", "churn-model"),
        "deleted": False,
    }
    config_record = {
        "arn": config["EndpointConfigArn"], "kind": "endpoint_config", "name": "churn-config-1",
        "created_time": _ms(config["CreationTime"]), "model_arns": [model_arn],
        "variants": json.dumps([{"instance_count": 1, "instance_type": INSTANCE, "model": "churn-model",
                                 "model_arn": model_arn, "serverless": None, "variant": "main", "weight": 1.0}],
                               sort_keys=True, separators=(",", ":")),
        "package_group": None, "package_version": None, "approval_status": None, "inference_specification": None,
        "metrics": None, "metric_values": None, "custom_metadata": None, "tags": {},
        "console_url": _console(region, "endpointConfig", "churn-config-1"), "deleted": False,
    }
    package_record = {
        "arn": package["ModelPackageArn"], "kind": "model_package", "name": "churn-group/2",
        "created_time": _ms(package["CreationTime"]), "model_arns": [model_arn], "variants": None,
        "package_group": "churn-group", "package_version": 2, "approval_status": "PendingManualApproval",
        "inference_specification": json.dumps(package["InferenceSpecification"], sort_keys=True, separators=(",", ":")),
        "metrics": _json(package["ModelMetrics"]),
        "metric_values": _json({  # the report's numbers, by path
            "ModelQuality.Statistics.version": 0.0,
            "ModelQuality.Statistics.binary_classification_metrics.accuracy.value": 0.91,
            "ModelQuality.Statistics.binary_classification_metrics.accuracy.standard_deviation": 0.01,
            "ModelQuality.Statistics.binary_classification_metrics.auc.value": 0.88}),
        "custom_metadata": {"owner": "ml-team"},
        "tags": None,  # moto's ListTags fails (500) on versioned model package ARNs: recorded as unknown
        "console_url": _console(region, "model-registry", "churn-group/versions/2"), "deleted": False,
    }
    deployment = {
        "arn": endpoint["EndpointArn"], "name": "churn-endpoint", "status": "InService",
        "endpoint_config_arn": config["EndpointConfigArn"], "endpoint_config_id": _id(config["EndpointConfigArn"]),
        "model_arns": [model_arn], "variants": '[{"instance_count":1,"serverless":null,"variant":"main","weight":1.0}]',
        "created_time": _ms(endpoint["CreationTime"]), "last_modified_time": _ms(endpoint["LastModifiedTime"]),
        "failure_reason": None, "tags": {}, "console_url": _console(region, "endpoints", "churn-endpoint"),
        "deleted": False,
    }
    train = {
        "arn": training["TrainingJobArn"], "kind": "training", "name": "churn-train-1", "model_arn": model_arn,
        "model_arns": [model_arn],
        "status": "Completed", "created_time": _ms(training["CreationTime"]),
        "started_at": _ms(training["TrainingStartTime"]), "ended_at": _ms(training["TrainingEndTime"]),
        "duration_seconds": int((training["TrainingEndTime"] - training["TrainingStartTime"]).total_seconds()),
        "input_urls": [f"s3://{bucket_of(region)}/data/train/"], "output_url": a.artifacts, "instance_type": INSTANCE,
        "instance_count": 2, "failure_reason": None, "tags": {"team": "ml"},
        "console_url": _console(region, "jobs", "churn-train-1"), "deleted": False,
        # the final metrics as SageMaker (here moto) lists them, by name
        "metrics": json.dumps({m["MetricName"]: m["Value"] for m in training["FinalMetricDataList"]}, separators=(",", ":")),
    }
    batch = {
        "arn": transform["TransformJobArn"], "kind": "transform", "name": "churn-batch-1", "model_arn": model_arn,
        "model_arns": [model_arn],
        "status": "Completed", "created_time": _ms(transform["CreationTime"]),
        "started_at": _ms(transform.get("TransformStartTime")), "ended_at": _ms(transform.get("TransformEndTime")),
        "duration_seconds": int((transform["TransformEndTime"] - transform["TransformStartTime"]).total_seconds()),
        "input_urls": [f"s3://{bucket_of(region)}/batch/churn-batch-1/in.csv"],
        "output_url": f"s3://{bucket_of(region)}/batch/churn-batch-1/out/", "instance_type": INSTANCE, "instance_count": 1,
        "failure_reason": None, "metrics": None,
        "tags": None,  # moto's ListTags fails (500) on transform jobs: recorded as unknown
        "console_url": _console(region, "transform-jobs", "churn-batch-1"), "deleted": False,
    }
    by_entity = {
        "models": [model], "model_versions": [config_record, package_record], "deployments": [deployment],
        "ml_jobs": [train, batch], "approvals": [],
    }
    return {e: {_id(r["arn"]): {"id": _id(r["arn"]), **r} for r in rs} for e, rs in by_entity.items()}


def _without_system(stored):
    return {e: {i: {k: v for k, v in r.items() if k not in SYSTEM} for i, r in rs.items()} for e, rs in stored.items()}


def test_import_holds_exactly_the_expected_records_and_a_second_import_writes_nothing(servers):
    _moto, api = servers
    region = "eu-west-1"
    assets = create_assets(_session(region))

    first = _log(region).import_model("churn-model")
    stored = _stored(api, region)
    assert _without_system(stored) == expected_records(assets, region)  # other-model and its job are not there
    assert first.written == {"models": 1, "model_versions": 2, "deployments": 1, "ml_jobs": 2}

    again = _log(region).import_model("churn-model")
    assert again.written == {} and "nothing" in again.summary()
    assert _stored(api, region) == stored  # not even updated_at moved


def test_sync_picks_up_one_change_and_marks_deleted_assets(servers):
    _moto, api = servers
    region = "eu-central-1"
    session = _session(region)
    assets = create_assets(session)
    sm = session.client("sagemaker")

    full = _log(region).sync()
    assert full.written["models"] == 2  # churn-model and other-model
    before = _stored(api, region)
    assert _without_system(before)["models"][_id(assets.model["ModelArn"])] == expected_records(assets, region)[
        "models"][_id(assets.model["ModelArn"])]

    # one change SageMaker gives no modified time for: the package's approval status
    sm.update_model_package(ModelPackageArn=assets.package["ModelPackageArn"], ModelApprovalStatus="Approved")
    since = datetime.now(UTC)
    incremental = _log(region, since=since)
    assert incremental.sync().written == {"model_versions": 1}
    after = _stored(api, region)
    changed = {(e, i) for e in LOG_ENTITIES for i in after[e] if after[e][i] != before[e].get(i)}
    package_id = _id(assets.package["ModelPackageArn"])
    assert changed == {("model_versions", package_id)}
    assert after["model_versions"][package_id]["approval_status"] == "Approved"
    # jobs and endpoints unchanged since the previous sync were not described again
    described_incremental = incremental.inventory.described
    full_log = _log(region)
    full_log.sync()
    assert described_incremental < full_log.inventory.described

    # a deleted model is marked deleted, not dropped; nothing else changes
    sm.delete_model(ModelName="other-model")
    result = _log(region).sync()
    other_id = _id(assets.other_model["ModelArn"])
    # (other-model has no endpoint configuration: its default version goes with it)
    assert result.marked_deleted == {"models": [other_id], "model_versions": [other_id]}
    final = _stored(api, region)
    assert final["models"][other_id]["deleted"] is True and final["model_versions"][other_id]["deleted"] is True
    assert {(e, i) for e in LOG_ENTITIES for i in final[e] if final[e][i] != after[e].get(i)} == {
        ("models", other_id), ("model_versions", other_id)}


def test_sync_of_tagged_models_only(servers):
    _moto, api = servers
    region = "us-west-1"
    assets = create_assets(_session(region))
    result = _log(region).sync({"log": "yes"})
    assert result.models == [assets.model["ModelArn"]]
    assert set(_stored(api, region)["models"]) == {_id(assets.model["ModelArn"])}


# -- the gated deployment ----------------------------------------------------------------------------


def _record_assets(region, assets, *, test_data: bool):
    """What the SaaS's users record on the imported model before deploying (documentation, schema, test data)."""
    _log(region).import_model("churn-model")
    runtime = Runtime.from_env()
    fields = {"documentation_url": "https://docs.example.com/churn", "input_schema": "tenure:int,spend:double"}
    if test_data:
        s3 = _session(region).client("s3")
        s3.put_object(Bucket=bucket_of(region), Key="test/in.csv", Body=b"12,30.5\n3,99.0\n")
        s3.put_object(Bucket=bucket_of(region), Key="test/expected.csv", Body=b"0.12\n0.87\n")
        fields.update(test_data_url=f"s3://{bucket_of(region)}/test/in.csv", test_expected_url=f"s3://{bucket_of(region)}/test/expected.csv")
    client = runtime.client()
    (result,) = client.write(runtime.catalog.entity("models"), "update", [{"id": _id(assets.model["ModelArn"]), **fields}])
    assert result.ok, result.error


def _decide(approval_id, decision):
    runtime = Runtime.from_env()
    (result,) = runtime.client().write(
        runtime.catalog.entity("approvals"), "update", [{"id": approval_id, "decision": decision, "decided_by": "rev"}]
    )
    assert result.ok, result.error


def _supply_test_output(region, approval_id, body: bytes):
    """moto records the test transform job as Completed but runs nothing: write its output ourselves,
    where SageMaker would (`<S3OutputPath>/<input file>.out`)."""
    job = "sbtest-" + approval_id.removeprefix("apr_")[:40]
    _session(region).client("s3").put_object(
        Bucket=bucket_of(region), Key=f"test/saasbridge-test-output/{job}/in.csv.out", Body=body
    )


def _deploy(region, **kw):
    from saasbridge.sagemaker.modellog.deploy import DeployOptions, deploy

    options = DeployOptions("churn-model", "churn-config-2", endpoint="churn-live", poll_seconds=0.01, **kw)
    return deploy(_log(region), options)


def _second_config(session):
    session.client("sagemaker").create_endpoint_config(
        EndpointConfigName="churn-config-2",
        ProductionVariants=[{"VariantName": "v2", "ModelName": "churn-model", "InstanceType": INSTANCE,
                             "InitialInstanceCount": 1}],
    )


def _endpoints(session):
    return {e["EndpointName"]: e for e in session.client("sagemaker").list_endpoints()["Endpoints"]}


def _package_status(session, assets):
    return session.client("sagemaker").describe_model_package(
        ModelPackageName=assets.package["ModelPackageArn"])["ModelApprovalStatus"]


def _ready_to_deploy(region):
    """Assets, a second endpoint configuration, the model imported with its test data recorded, and
    the id its approval request will have (derived from the model and configuration ARNs)."""
    from saasbridge.sagemaker.modellog.ids import approval_id

    session = _session(region)
    assets = create_assets(session)
    _second_config(session)
    _record_assets(region, assets, test_data=True)
    config_arn = assets.model["ModelArn"].replace(":model/churn-model", ":endpoint-config/churn-config-2")
    return session, assets, approval_id(assets.model["ModelArn"], config_arn)


def test_deploy_approved_puts_the_endpoint_in_service_once(servers):
    _moto, api = servers
    region = "us-west-2"
    session, assets, aid = _ready_to_deploy(region)
    _supply_test_output(region, aid, b"0.12\n0.8700000001\n")  # matches the expectations (within 1e-6)

    pending = _deploy(region)
    assert (pending.status, pending.approval_id) == ("pending", aid)
    approvals = _stored(api, region)["approvals"]
    assert list(approvals) == [aid] and approvals[aid]["status"] == "pending" and approvals[aid]["decision"] is None
    assert json.loads(approvals[aid]["checks"])["test"]["passed"] is True
    assert _package_status(session, assets) == "PendingManualApproval"
    assert "churn-live" not in _endpoints(session)
    test_job = _stored(api, region)["ml_jobs"][_id(approvals[aid]["test_job_arn"])]
    assert (test_job["kind"], test_job["model_arn"]) == ("transform", assets.model["ModelArn"])

    snapshot = _stored(api, region)
    assert _deploy(region).status == "pending"  # re-running asks nothing twice and writes nothing
    assert _stored(api, region) == snapshot

    _decide(aid, "approved")
    done = _deploy(region)
    assert done.status == "deployed" and not done.failed
    live = _endpoints(session)["churn-live"]
    assert live["EndpointStatus"] == "InService" and done.endpoint_arn == live["EndpointArn"]
    assert session.client("sagemaker").describe_endpoint(EndpointName="churn-live")["EndpointConfigName"] == "churn-config-2"
    assert _package_status(session, assets) == "Approved"
    stored = _stored(api, region)
    assert stored["approvals"][aid]["status"] == "deployed"
    assert stored["deployments"][_id(live["EndpointArn"])]["endpoint_config_arn"].endswith("/churn-config-2")

    again = _deploy(region)  # never a second endpoint or approval request
    assert again.status == "deployed"
    assert sorted(_endpoints(session)) == ["churn-endpoint", "churn-live"]
    assert list(_stored(api, region)["approvals"]) == [aid]


def test_deploy_rejected_creates_no_endpoint(servers):
    _moto, api = servers
    region = "ap-southeast-2"
    session = _session(region)
    assets = create_assets(session)
    _second_config(session)

    missing = _deploy(region)  # nothing recorded on the model yet
    assert missing.status == "checks_failed" and missing.failed
    assert "documentation_url, input_schema" in _stored(api, region)["approvals"][missing.approval_id]["failure_reason"]

    _record_assets(region, assets, test_data=False)  # no test data: the approval alone gates
    assert _deploy(region).status == "pending"
    _decide(missing.approval_id, "rejected")
    rejected = _deploy(region)
    assert rejected.status == "rejected" and rejected.failed
    record = _stored(api, region)["approvals"][missing.approval_id]
    assert (record["status"], record["failure_reason"]) == ("rejected", "rejected by rev")
    assert "churn-live" not in _endpoints(session)
    assert _package_status(session, assets) == "Rejected"
    assert _deploy(region).status == "rejected" and "churn-live" not in _endpoints(session)


def test_deploy_with_a_failed_test_transform_creates_no_endpoint_and_records_the_failure(servers):
    _moto, api = servers
    region = "ca-central-1"
    session, assets, aid = _ready_to_deploy(region)
    # moto cannot fail a job: the failure is an output that differs from the recorded expectations
    _supply_test_output(region, aid, b"0.12\n0.10\n")
    failed = _deploy(region)
    assert failed.status == "test_failed" and failed.failed
    record = _stored(api, region)["approvals"][aid]
    assert record["status"] == "test_failed" and "record 2" in record["failure_reason"]
    assert record["decision"] is None and "churn-live" not in _endpoints(session)
    assert _package_status(session, assets) == "PendingManualApproval"  # untouched: never requested

    _decide(aid, "approved")  # even an approval given anyway does not deploy a model that failed its test
    assert _deploy(region).status == "test_failed"
    assert "churn-live" not in _endpoints(session) and list(_stored(api, region)["approvals"]) == [aid]


# -- the CLI and the Athena path ---------------------------------------------------------------------


def test_cli_import_then_sql_joins_models_and_jobs(servers, capsys):
    from saasbridge.cli import main

    _moto, api = servers
    region = "sa-east-1"
    assets = create_assets(_session(region))
    assert main(["sagemaker", "import", "--model", "churn-model", "--region", region, "--no-progress"]) == 0
    assert "1 models" in capsys.readouterr().out

    query = (
        "SELECT m.name AS model, j.kind, j.name AS job, j.status FROM crm.models m "
        f"JOIN crm.ml_jobs j ON j.model_arn = m.arn WHERE m.name = 'churn-model' AND m.arn LIKE '%:{region}:%' "
        "ORDER BY j.kind"
    )
    assert main(["sql", query, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {"model": "churn-model", "kind": "training", "job": "churn-train-1", "status": "Completed"},
        {"model": "churn-model", "kind": "transform", "job": "churn-batch-1", "status": "Completed"},
    ]
    assert assets.transform["TransformJobStatus"] == "Completed"


def test_cli_errors_are_one_line(servers, capsys):
    from saasbridge.cli import main

    assert main(["sagemaker", "import", "--model", "no-such-model", "--region", "eu-north-1", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no model named 'no-such-model'" in err
    assert main(["sagemaker", "sync", "--tag", "oops", "--region", "eu-north-1"]) == 1
    assert "--tag 'oops' is not KEY=VALUE" in capsys.readouterr().err
    assert main(["sagemaker", "sync", "--since", "yesterday", "--region", "eu-north-1"]) == 1
    assert "--since 'yesterday'" in capsys.readouterr().err


def test_lambda_sync_on_schedule_and_state_change(servers, monkeypatch):
    from saasbridge.sagemaker import lambda_sync

    _moto, api = servers
    region = "eu-west-2"
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("SAASBRIDGE_MODEL_LOG_TAGS", "log=yes")
    session = _session(region)
    assets = create_assets(session)
    scheduled = lambda_sync.lambda_handler({"detail-type": "Scheduled Event", "source": "aws.events"})
    assert scheduled["ok"] and not scheduled["incremental"], scheduled
    assert scheduled["written"] == {"models": 1, "model_versions": 2, "deployments": 1, "ml_jobs": 2}
    assert set(_stored(api, region)["models"]) == {_id(assets.model["ModelArn"])}  # the tagged model only

    session.client("sagemaker").add_tags(ResourceArn=assets.training["TrainingJobArn"],
                                         Tags=[{"Key": "stage", "Value": "prod"}])
    event = {"detail-type": "SageMaker Training Job State Change", "source": "aws.sagemaker",
             "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "detail": {"TrainingJobName": "churn-train-1"}}
    changed = lambda_sync.lambda_handler(event)
    assert changed["ok"] and changed["incremental"] and changed["written"] == {"ml_jobs": 1}
    job = _stored(api, region)["ml_jobs"][_id(assets.training["TrainingJobArn"])]
    assert job["tags"] == {"team": "ml", "stage": "prod"}

    for bad in (None, [], {"detail-type": "Something Else"}, {"detail-type": "SageMaker Endpoint State Change",
                                                               "time": "not a time"}):
        answer = lambda_sync.lambda_handler(bad)
        assert answer["ok"] is False and answer["error"]


def test_sync_gate_starts_the_flow_for_a_new_configuration_only(servers, capsys):
    from saasbridge.cli import main

    _moto, api = servers
    region = "eu-south-1"
    session = _session(region)
    create_assets(session)
    assert main(["sagemaker", "sync", "--region", region, "--no-progress", "--gate"]) == 0
    assert _stored(api, region)["approvals"] == {}  # churn-config-1 already runs on churn-endpoint
    _second_config(session)
    assert main(["sagemaker", "sync", "--region", region, "--no-progress", "--gate"]) == 1  # nothing recorded yet
    (approval,) = _stored(api, region)["approvals"].values()
    assert approval["endpoint_config_arn"].endswith("/churn-config-2") and approval["status"] == "checks_failed"
    assert "checks_failed" in capsys.readouterr().out
    assert main(["sagemaker", "sync", "--region", region, "--no-progress", "--gate"]) == 0  # not new any more
    assert len(_stored(api, region)["approvals"]) == 1 and set(_endpoints(session)) == {"churn-endpoint"}


def test_a_job_and_package_shared_by_two_models_keep_both_links_across_alternating_imports(servers):
    _moto, api = servers
    region = "ap-northeast-1"
    session = _session(region)
    assets = create_assets(session)
    sm = session.client("sagemaker")
    sm.create_model(ModelName="churn-copy", ExecutionRoleArn=assets.role_arn,
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": assets.artifacts})  # the same artifacts
    copy_arn = sm.describe_model(ModelName="churn-copy")["ModelArn"]
    both = sorted([assets.model["ModelArn"], copy_arn])
    job_id, package_id = _id(assets.training["TrainingJobArn"]), _id(assets.package["ModelPackageArn"])

    _log(region).import_model("churn-copy")
    first = _stored(api, region)
    assert first["ml_jobs"][job_id]["model_arns"] == [copy_arn]
    # churn-copy has no endpoint configuration: its default version, deployable as it is
    default = first["model_versions"][_id(copy_arn)]
    assert (default["kind"], default["arn"], default["model_arns"], default["name"]) == (
        "model", copy_arn, [copy_arn], "churn-copy")
    assert _id(assets.model["ModelArn"]) not in first["model_versions"]  # churn-model is not imported yet

    _log(region).import_model("churn-model")
    linked = _stored(api, region)
    assert linked["ml_jobs"][job_id]["model_arns"] == both and linked["ml_jobs"][job_id]["model_arn"] == both[0]
    assert linked["model_versions"][package_id]["model_arns"] == both
    assert _id(assets.model["ModelArn"]) not in linked["model_versions"]  # it has churn-config-1
    for name in ("churn-copy", "churn-model", "churn-copy"):  # alternating: nothing is rewritten any more
        assert _log(region).import_model(name).written == {}, name
    assert _stored(api, region) == linked
    full = _log(region)
    full.sync()
    assert _stored(api, region)["ml_jobs"][job_id] == linked["ml_jobs"][job_id]
    model = _stored(api, region)["models"]
    assert model[_id(copy_arn)]["training_job_id"] == model[_id(assets.model["ModelArn"])]["training_job_id"] == job_id


# -- deciding by command, the Model Registry mirrored both ways, retest, the sync function's gate --------


def _cli(*args):
    from saasbridge.cli import main

    return main(["sagemaker", *args])


def test_approve_and_reject_by_command_and_the_list_of_requests(servers, capsys):
    _moto, api = servers
    region = "eu-west-3"
    session, assets, aid = _ready_to_deploy(region)
    _supply_test_output(region, aid, b"0.12\n0.87\n")
    assert _deploy(region).status == "pending"
    capsys.readouterr()

    assert _cli("approvals", "list", "--status", "pending") == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith(aid)]
    assert listed == [f"{aid}  pending  model churn-model on churn-config-2 → endpoint churn-live"]

    assert _cli("approve", aid, "--approve", "--comment", "looks right", "--by", "ana") == 0
    assert "--config churn-config-2` to deploy" in capsys.readouterr().out
    record = _stored(api, region)["approvals"][aid]
    assert (record["decision"], record["decided_by"], record["comment"]) == ("approved", "ana", "looks right")
    assert _deploy(region).status == "deployed" and "churn-live" in _endpoints(session)
    assert _package_status(session, assets) == "Approved"  # the SaaS decided first: the registry follows

    assert _cli("approve", aid, "--reject") == 1  # deployed: no decision any more
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"approvals/{aid} is deployed, not pending" in err
    assert _cli("approve", "apr_nope", "--approve") == 1
    assert "no approval request 'apr_nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --approve or --reject is required (argparse)
        _cli("approve", aid)


def test_a_decision_in_the_model_registry_is_mirrored_into_the_saas(servers):
    _moto, api = servers
    region = "ap-northeast-3"
    session, assets, aid = _ready_to_deploy(region)
    _supply_test_output(region, aid, b"0.12\n0.87\n")
    assert _deploy(region).status == "pending" and _package_status(session, assets) == "PendingManualApproval"

    sm = session.client("sagemaker")
    sm.update_model_package(ModelPackageArn=assets.package["ModelPackageArn"], ModelApprovalStatus="Rejected",
                            ApprovalDescription="bias report missing")
    outcome = _deploy(region)
    assert outcome.status == "rejected" and "churn-live" not in _endpoints(session)
    record = _stored(api, region)["approvals"][aid]
    assert (record["decision"], record["decided_by"], record["comment"]) == (
        "rejected", "SageMaker Model Registry", "bias report missing")


def test_sync_mirrors_a_saas_decision_onto_the_registry(servers, capsys):
    _moto, api = servers
    region = "ap-south-1"
    session, assets, aid = _ready_to_deploy(region)
    _supply_test_output(region, aid, b"0.12\n0.87\n")
    assert _deploy(region).status == "pending"
    _decide(aid, "approved")  # the SaaS's own write (PATCH) keeps working
    assert _cli("sync", "--region", region, "--no-progress") == 0
    assert _package_status(session, assets) == "PendingManualApproval"  # a plain sync writes only the log
    assert _cli("sync", "--region", region, "--no-progress", "--gate") == 0
    assert "mirrored 1 approval decision(s)" in capsys.readouterr().out
    assert _package_status(session, assets) == "Approved"
    assert "churn-live" not in _endpoints(session)  # mirroring deploys nothing; deploy does


def test_a_failed_test_runs_again_with_retest(servers, capsys):
    _moto, api = servers
    region = "us-east-2"
    session, assets, aid = _ready_to_deploy(region)
    _supply_test_output(region, aid, b"0.12\n0.10\n")
    assert _deploy(region).status == "test_failed"
    assert _deploy(region).status == "test_failed"  # without --retest the failure stands

    # the retest is a new job (moto runs nothing: its output is supplied where SageMaker would write it)
    job = "sbtest-" + aid.removeprefix("apr_")[:40] + "-2"
    session.client("s3").put_object(Bucket=bucket_of(region), Key=f"test/saasbridge-test-output/{job}/in.csv.out",
                                    Body=b"0.12\n0.87\n")
    again = _deploy(region, retest=True)
    assert again.status == "pending" and again.approval_id == aid
    record = _stored(api, region)["approvals"][aid]
    checks = json.loads(record["checks"])["test"]
    assert (checks["job"], checks["attempt"], checks["passed"]) == (job, 2, True)
    assert record["failure_reason"] is None and record["decision"] is None
    assert list(_stored(api, region)["approvals"]) == [aid]  # the same request


def test_the_sync_function_gates_a_new_configuration_of_an_imported_model(servers, monkeypatch):
    from saasbridge.sagemaker import lambda_sync

    _moto, api = servers
    region = "ap-northeast-2"
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("SAASBRIDGE_MODEL_LOG_TAGS", "log=yes")
    monkeypatch.setenv("SAASBRIDGE_MODEL_LOG_GATE", "true")
    session = _session(region)
    assets = create_assets(session)
    first = lambda_sync.lambda_handler({"detail-type": "Scheduled Event"})
    assert first["ok"] and first["gated"] == [], first  # churn-config-1 already runs on churn-endpoint
    _record_assets(region, assets, test_data=True)
    _second_config(session)
    event = {"detail-type": "SageMaker Endpoint State Change", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    # the test transform's output differs from the expectations: a notification record, no deployment
    config_arn = assets.model["ModelArn"].replace(":model/churn-model", ":endpoint-config/churn-config-2")
    from saasbridge.sagemaker.modellog.ids import approval_id

    _supply_test_output(region, approval_id(assets.model["ModelArn"], config_arn), b"0.12\n0.5\n")
    gated = lambda_sync.lambda_handler(event)
    assert gated["ok"], gated
    (outcome,) = gated["gated"]
    assert outcome["status"] == "test_failed" and "endpoint churn-endpoint serves churn-model today" in outcome["message"]
    record = _stored(api, region)["approvals"][outcome["approval_id"]]
    assert record["status"] == "test_failed" and "record 2" in record["failure_reason"]
    assert record["endpoint_name"] == "churn-endpoint"  # the endpoint serving the model today
    endpoint = session.client("sagemaker").describe_endpoint(EndpointName="churn-endpoint")
    assert endpoint["EndpointConfigName"] == "churn-config-1" and set(_endpoints(session)) == {"churn-endpoint"}
