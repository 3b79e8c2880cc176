"""The gated deployment: required assets, a test transform, an approval recorded in the SaaS, and
only then the endpoint.

How approval is granted: the flow records `approvals/<id>` with status `pending`; a reviewer sets
its `decision` to `approved` or `rejected` in the SaaS (PATCH, or any tool writing the record).
`deploy` run again (or still waiting with `wait_seconds`) reads the decision and goes on. The id
is derived from the model and endpoint-configuration ARNs, so re-running never asks twice; the
endpoint is looked up by name before it is created, so re-running never creates a second one.
Failures (missing assets, a failed or differing test, a rejection, a failed endpoint) are written
to the approval record (`status`, `failure_reason`) for the SaaS to notify on; nothing is deployed
then. Where the model has a Model Registry package, its approval status follows the decision.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from saasbridge.errors import SaasBridgeError
from saasbridge.sagemaker.aws import AwsCallError, AwsService
from saasbridge.sagemaker.modellog import ModelLog
from saasbridge.sagemaker.modellog.ids import approval_id, arn_name, record_id
from saasbridge.sagemaker.modellog.testrun import ModelTestRun, default_output_url, run_test
from saasbridge.sagemaker.waiting import ENDPOINT, poll_until, wait_for

REQUIRED_ASSETS = ("documentation_url", "input_schema")
FAILED = ("checks_failed", "test_failed", "rejected", "deploy_failed")
_REGISTRY_STATUS = {"pending": "PendingManualApproval", "approved": "Approved", "rejected": "Rejected"}


class DeploymentError(SaasBridgeError):
    """The deployment cannot start (unknown configuration, or one without this model)."""


@dataclass(frozen=True)
class DeployOptions:
    model: str
    config: str
    endpoint: str | None = None  # default: the model's name
    wait_seconds: float = 0.0  # how long to wait for a reviewer's decision
    poll_seconds: float = 5.0
    instance_type: str = "ml.m5.large"  # of the test transform
    test_output_url: str | None = None
    job_timeout_seconds: float = 3600.0


@dataclass(frozen=True)
class DeployOutcome:
    approval_id: str
    status: str  # the approval record's status after this run
    message: str
    endpoint_arn: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED


class GatedDeployment:
    def __init__(self, log: ModelLog, options: DeployOptions, *, sleep: Callable[[float], None] = time.sleep):
        self.log = log
        self.options = options
        self.sleep = sleep
        self.writer = log.writer
        self.sm = log.inventory.sm
        self.s3 = AwsService(log.session.client("s3"))

    def run(self) -> DeployOutcome:
        o = self.options
        (model_arn,) = self.log.import_model(o.model).models
        model = self.writer.current("models", record_id(model_arn)) or {}
        config = self.sm.call("describe_endpoint_config", missing=True, EndpointConfigName=o.config)
        if config is None:
            raise DeploymentError(f"SageMaker has no endpoint configuration {o.config!r}; create it first")
        if not any(v.get("ModelName") == o.model for v in config.get("ProductionVariants", [])):
            raise DeploymentError(f"endpoint configuration {o.config!r} has no variant on model {o.model!r}")
        aid = approval_id(model_arn, config["EndpointConfigArn"])
        approval = self.writer.current("approvals", aid)
        base = {
            "id": aid, "model_arn": model_arn, "model_name": o.model,
            "endpoint_config_arn": config["EndpointConfigArn"],
            "endpoint_name": o.endpoint or (approval or {}).get("endpoint_name") or o.model,
            "model_package_arn": model.get("model_package_arn"),
        }
        status = (approval or {}).get("status")
        if status in ("test_failed", "rejected"):
            return DeployOutcome(aid, status, f"not deployed: {approval.get('failure_reason')} (approvals/{aid}); "
                                 "record a new endpoint configuration to ask again")
        if status is None or status == "checks_failed":
            failed = self._checks(base, model, aid)
            if failed is not None:
                return failed
        decision = self._decision(aid)
        if decision is None:
            return DeployOutcome(aid, "pending", f"approval requested (approvals/{aid}): set its decision to "
                                 "approved or rejected in the SaaS, then run deploy again (or pass --wait SECONDS)")
        record = self.writer.current("approvals", aid) or {}
        if decision == "rejected":
            self._registry(base, "rejected")
            who = f" by {record['decided_by']}" if record.get("decided_by") else ""
            return self._record(base, "rejected", f"rejected{who}")
        self._registry(base, "approved")
        if status != "deployed":
            self._record(base, "approved", None)
        return self._deploy(base)

    # -- steps -------------------------------------------------------------------------------------

    def _checks(self, base: dict, model: dict, aid: str) -> DeployOutcome | None:
        """Required assets, then the test; records the request (pending) when both pass."""
        missing = [name for name in REQUIRED_ASSETS if not model.get(name)]
        if model.get("test_data_url") and not model.get("test_expected_url"):
            missing.append("test_expected_url")
        checks = {"assets": {name: bool(model.get(name)) for name in (*REQUIRED_ASSETS, "test_data_url")}}
        if missing:
            return self._record(base, "checks_failed", f"missing in the model record: {', '.join(missing)}", checks)
        if model.get("test_data_url"):
            o = self.options
            job_name = f"sbtest-{aid.removeprefix('apr_')[:40]}"
            output = o.test_output_url or default_output_url(model["test_data_url"], job_name)
            run = ModelTestRun(job_name, o.model, model["test_data_url"], model["test_expected_url"], output,
                               o.instance_type)
            job_arn, problem = run_test(self.sm, self.s3, run, timeout=o.job_timeout_seconds, poll=o.poll_seconds)
            checks["test"] = {"job": job_name, "passed": problem is None}
            base = {**base, "test_job_arn": job_arn}
            self.log.refreshed().import_model(o.model)  # records the test job with the model's jobs
            if problem is not None:
                return self._record(base, "test_failed", problem, checks)
        self._record(base, "pending", None, checks)
        self._registry(base, "pending")
        return None

    def _decision(self, aid: str) -> str | None:
        return poll_until(lambda: (self.writer.refresh("approvals", aid) or {}).get("decision") or None,
                          timeout=self.options.wait_seconds, poll=self.options.poll_seconds, sleep=self.sleep)  # fmt: skip

    def _deploy(self, base: dict) -> DeployOutcome:
        name, config_name = base["endpoint_name"], self.options.config
        endpoint = self.sm.call("describe_endpoint", missing=True, EndpointName=name)
        try:
            if endpoint is None:
                self.sm.call("create_endpoint", EndpointName=name, EndpointConfigName=config_name,
                             Tags=[{"Key": "saasbridge:approval", "Value": base["id"]}])
            elif endpoint["EndpointConfigName"] != config_name:
                self.sm.call("update_endpoint", EndpointName=name, EndpointConfigName=config_name)
        except AwsCallError as exc:  # refused (permission, quota, bad configuration): recorded, not deployed
            return self._record(base, "deploy_failed", str(exc))
        waited_for = self.options.job_timeout_seconds
        waited = wait_for(self.sm, ENDPOINT, name, timeout=waited_for, poll=self.options.poll_seconds)
        endpoint = waited.description
        self.log.refreshed().import_model(self.options.model)  # records the deployment
        if waited.timed_out:
            return self._record(base, "deploy_failed", f"endpoint {name} {waited.timeout_note(waited_for)}")
        if waited.status != "InService":
            reason = endpoint.get("FailureReason") or "no reason given"
            return self._record(base, "deploy_failed", f"endpoint {name} {waited.status}: {reason}")
        outcome = self._record(base, "deployed", None)
        return DeployOutcome(outcome.approval_id, "deployed", f"endpoint {name} in service on {config_name}",
                             endpoint["EndpointArn"])

    def _registry(self, base: dict, status: str) -> None:
        """Mirror the request/decision onto the Model Registry package, when there is one."""
        arn = base.get("model_package_arn")
        if not arn:
            return
        package = self.sm.call("describe_model_package", ModelPackageName=arn)
        wanted = _REGISTRY_STATUS[status]
        if package.get("ModelApprovalStatus") != wanted:
            self.sm.call("update_model_package", ModelPackageArn=arn, ModelApprovalStatus=wanted,
                         ApprovalDescription=f"saasbridge approvals/{base['id']}")

    def _record(self, base: dict, status: str, reason: str | None, checks: dict | None = None) -> DeployOutcome:
        record = {**base, "status": status, "failure_reason": reason}
        if checks is not None:
            record["checks"] = json.dumps(checks, sort_keys=True)
        self.writer.put("approvals", record)
        message = f"{status}: {reason}" if reason else status
        return DeployOutcome(base["id"], status, f"{message} (approvals/{base['id']})")


def gate_new_configurations(log: ModelLog, **options: object) -> list[DeployOutcome]:
    """Start the flow for each endpoint configuration this run newly logged that no endpoint runs
    yet: one request per (model, configuration), waiting for its decision like `deploy`."""
    deployed = {r.get("endpoint_config_arn") for r in log.writer.all_records("deployments").values()}
    outcomes = []
    for config_id in log.writer.created.get("model_versions", []):
        config = log.writer.current("model_versions", config_id) or {}
        if config.get("kind") != "endpoint_config" or config.get("arn") in deployed:
            continue
        for model_arn in config.get("model_arns") or []:
            flow = DeployOptions(model=arn_name(model_arn), config=config["name"], **options)  # type: ignore[arg-type]
            outcomes.append(deploy(log.refreshed(), flow))
    return outcomes


def deploy(log: ModelLog, options: DeployOptions, *, sleep: Callable[[float], None] = time.sleep) -> DeployOutcome:
    """Run (or resume) the gated deployment of `options.model` on `options.config`."""
    return GatedDeployment(log, options, sleep=sleep).run()
