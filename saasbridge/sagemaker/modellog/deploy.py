"""The gated deployment: required assets, a test transform, an approval recorded in the SaaS, and
only then the endpoint.

How approval is granted: the flow records `approvals/<id>` with status `pending`; a reviewer sets
its `decision` to `approved` or `rejected` in the SaaS (`saasbridge sagemaker approve`, a PATCH, or
any tool writing the record) or, for a model with a Model Registry package, sets the package's
approval status in SageMaker: whichever side decides first, the other is made to follow.
`deploy` run again (or still waiting with `wait_seconds`) reads the decision and goes on. The id
is derived from the model and endpoint-configuration ARNs, so re-running never asks twice; the
endpoint is looked up by name before it is created, so re-running never creates a second one.
Failures (missing assets, a failed or differing test, a rejection, a failed endpoint) are written
to the approval record (`status`, `failure_reason`) for the SaaS to notify on; nothing is deployed
then. A failed test runs again with `retest` (a new transform job, the same request).

The test transform sends the test data as the model's recorded `input_content_type` and asks for
its `output_content_type` (else what its Model Registry package declares first, else CSV).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from saasbridge.errors import SaasBridgeError
from saasbridge.sagemaker.aws import AwsCallError, AwsService
from saasbridge.sagemaker.modellog import ModelLog
from saasbridge.sagemaker.modellog.ids import approval_id, arn_name, record_id
from saasbridge.sagemaker.modellog.testrun import CSV, ModelTestRun, default_output_url, run_test
from saasbridge.sagemaker.waiting import ENDPOINT, poll_until, wait_for

REQUIRED_ASSETS = ("documentation_url", "input_schema")
FAILED = ("checks_failed", "test_failed", "rejected", "deploy_failed")
_REGISTRY_STATUS = {"pending": "PendingManualApproval", "approved": "Approved", "rejected": "Rejected"}
_REGISTRY_DECISION = {"Approved": "approved", "Rejected": "rejected"}
REGISTRY_REVIEWER = "SageMaker Model Registry"


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
    content_type: str | None = None  # of the test data (default: the model's recorded input)
    accept: str | None = None  # asked of the test transform (default: the model's recorded output)
    retest: bool = False  # run a failed test again


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
        retest = status == "test_failed" and o.retest
        if status in ("test_failed", "rejected") and not retest:
            again = "run deploy --retest, or record" if status == "test_failed" else "record"
            return DeployOutcome(aid, status, f"not deployed: {approval.get('failure_reason')} (approvals/{aid}); "
                                 f"{again} a new endpoint configuration to ask again")
        if status is None or status == "checks_failed" or retest:
            failed = self._checks(base, model, aid, attempt=_attempt(approval) + 1 if retest else 1)
            if failed is not None:
                return failed
        decision = self._decision(aid)
        if decision is None:
            return DeployOutcome(aid, "pending", f"approval requested (approvals/{aid}): `saasbridge sagemaker approve "
                                 f"{aid} --approve` (or --reject, or the Model Registry status), then run deploy "
                                 "again (or pass --wait SECONDS)")
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

    def _checks(self, base: dict, model: dict, aid: str, attempt: int = 1) -> DeployOutcome | None:
        """Required assets, then the test (its `attempt`-th run); records the request (pending, no
        decision yet) when both pass."""
        missing = [name for name in REQUIRED_ASSETS if not model.get(name)]
        if model.get("test_data_url") and not model.get("test_expected_url"):
            missing.append("test_expected_url")
        checks = {"assets": {name: bool(model.get(name)) for name in (*REQUIRED_ASSETS, "test_data_url")}}
        if missing:
            return self._record(base, "checks_failed", f"missing in the model record: {', '.join(missing)}", checks)
        if model.get("test_data_url"):
            o = self.options
            job_name = f"sbtest-{aid.removeprefix('apr_')[:40]}" + (f"-{attempt}" if attempt > 1 else "")
            output = o.test_output_url or default_output_url(model["test_data_url"], job_name)
            content_type, accept = self._formats(model)
            run = ModelTestRun(job_name, o.model, model["test_data_url"], model["test_expected_url"], output,
                               o.instance_type, content_type, accept)
            job_arn, problem = run_test(self.sm, self.s3, run, timeout=o.job_timeout_seconds, poll=o.poll_seconds)
            checks["test"] = {"job": job_name, "passed": problem is None, "attempt": attempt,
                              "content_type": content_type, "accept": accept}
            base = {**base, "test_job_arn": job_arn}
            self.log.refreshed().import_model(o.model)  # records the test job with the model's jobs
            if problem is not None:
                return self._record(base, "test_failed", problem, checks)
        self._record(base, "pending", None, checks, decision=None)
        self._registry(base, "pending")
        return None

    def _formats(self, model: dict) -> tuple[str, str]:
        """(ContentType, Accept) of the test transform: the options', the model's recorded ones, its
        package's declared ones, else CSV."""
        spec = {}
        if model.get("model_package_arn"):
            package = self.writer.current("model_versions", record_id(model["model_package_arn"])) or {}
            spec = json.loads(package.get("inference_specification") or "{}")
        o = self.options
        content_type = (o.content_type or model.get("input_content_type")
                        or next(iter(spec.get("SupportedContentTypes") or []), CSV))  # fmt: skip
        accept = o.accept or model.get("output_content_type") or next(iter(spec.get("SupportedResponseMIMETypes") or []), CSV)
        return content_type, accept

    def _decision(self, aid: str) -> str | None:
        """The reviewer's decision, from the SaaS or (mirrored into the SaaS) from the Model Registry."""
        def decided() -> str | None:
            record = self.writer.refresh("approvals", aid) or {}
            return record.get("decision") or mirror_registry_decision(self.log, record)

        return poll_until(decided, timeout=self.options.wait_seconds, poll=self.options.poll_seconds, sleep=self.sleep)

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
        if base.get("model_package_arn"):
            set_registry_status(self.sm, base["model_package_arn"], status, base["id"])

    def _record(self, base: dict, status: str, reason: str | None, checks: dict | None = None,
                **fields: object) -> DeployOutcome:
        record = {**base, "status": status, "failure_reason": reason, **fields}
        if checks is not None:
            record["checks"] = json.dumps(checks, sort_keys=True)
        self.writer.put("approvals", record)
        message = f"{status}: {reason}" if reason else status
        return DeployOutcome(base["id"], status, f"{message} (approvals/{base['id']})")


def gate_new_configurations(log: ModelLog, **options: object) -> list[DeployOutcome]:
    """Start the flow for each endpoint configuration this run newly logged that no endpoint runs
    yet: one request per (model, configuration), on the endpoint that serves the model today (else
    one named after the model), waiting for its decision like `deploy`."""
    deployments = log.writer.all_records("deployments").values()
    deployed = {r.get("endpoint_config_arn") for r in deployments}
    outcomes = []
    for config_id in log.writer.created.get("model_versions", []):
        config = log.writer.current("model_versions", config_id) or {}
        if config.get("kind") != "endpoint_config" or config.get("arn") in deployed:
            continue
        for model_arn in config.get("model_arns") or []:
            endpoint = serving_endpoint(deployments, model_arn)
            flow = DeployOptions(model=arn_name(model_arn), config=config["name"], endpoint=endpoint, **options)  # type: ignore[arg-type]
            outcome = deploy(log.refreshed(), flow)
            serving = f"endpoint {endpoint} serves {flow.model} today" if endpoint else f"no endpoint serves {flow.model} yet"
            outcomes.append(replace(outcome, message=f"{flow.model} on {flow.config} ({serving}): {outcome.message}"))
    return outcomes


def serving_endpoint(deployments: Iterable[dict], model_arn: str) -> str | None:
    """The name of the endpoint (in service, not deleted) that runs `model_arn` now, if any (the
    newest when several do)."""
    serving = [d for d in deployments
               if not d.get("deleted") and d.get("status") == "InService" and model_arn in (d.get("model_arns") or [])]
    newest = max(serving, key=lambda d: d.get("last_modified_time") or "", default=None)
    return newest["name"] if newest else None


def mirror_registry_decision(log: ModelLog, approval: dict) -> str | None:
    """A decision taken in the Model Registry (the package Approved or Rejected) on a pending request
    the SaaS has not decided: written into the SaaS and returned; else None."""
    arn = approval.get("model_package_arn")
    if not arn or approval.get("status") != "pending" or approval.get("decision"):
        return None
    package = log.inventory.sm.call("describe_model_package", missing=True, ModelPackageName=arn) or {}
    decision = _REGISTRY_DECISION.get(package.get("ModelApprovalStatus", ""))
    if decision is not None:
        log.writer.put("approvals", {"id": approval["id"], "decision": decision, "decided_by": REGISTRY_REVIEWER,
                                     "comment": package.get("ApprovalDescription")})  # fmt: skip
    return decision


def mirror_decisions(log: ModelLog) -> int:
    """Make both sides agree on every pending request with a registry package of this account and
    region: a SaaS decision sets the package's status, a registry decision is written into the SaaS.
    Returns how many changed."""
    changed, scope = 0, None
    for approval in log.writer.all_records("approvals").values():
        if approval.get("status") != "pending" or not approval.get("model_package_arn"):
            continue
        scope = scope or log.arn_scope()
        if not approval["model_package_arn"].startswith(scope):
            continue
        if approval.get("decision"):
            changed += set_registry_status(log.inventory.sm, approval["model_package_arn"], approval["decision"],
                                           approval["id"])  # fmt: skip
        elif mirror_registry_decision(log, approval):
            changed += 1
    return changed


def set_registry_status(sm: AwsService, package_arn: str, status: str, approval_id: str) -> bool:
    """The package's approval status made to match the request's `status`; True when it changed."""
    wanted = _REGISTRY_STATUS[status]
    package = sm.call("describe_model_package", missing=True, ModelPackageName=package_arn)
    if package is None or package.get("ModelApprovalStatus") == wanted:
        return False
    sm.call("update_model_package", ModelPackageArn=package_arn, ModelApprovalStatus=wanted,
            ApprovalDescription=f"saasbridge approvals/{approval_id}")
    return True


def _attempt(approval: dict | None) -> int:
    """How many times the request's test ran."""
    checks = json.loads((approval or {}).get("checks") or "{}")
    return int((checks.get("test") or {}).get("attempt", 1))


def deploy(log: ModelLog, options: DeployOptions, *, sleep: Callable[[float], None] = time.sleep) -> DeployOutcome:
    """Run (or resume) the gated deployment of `options.model` on `options.config`."""
    return GatedDeployment(log, options, sleep=sleep).run()
