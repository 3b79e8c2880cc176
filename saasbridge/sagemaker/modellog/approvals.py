"""Deciding and listing the gate's approval requests (the `approvals` records `deploy` writes), so
that no one needs a hand-written PATCH to approve. Only the SaaS is written: `deploy` (or a sync)
then mirrors the decision onto the Model Registry package and goes on."""

from __future__ import annotations

from saasbridge.errors import SaasBridgeError
from saasbridge.sagemaker.modellog.ids import arn_name
from saasbridge.sagemaker.modellog.writer import ModelLogWriter

DECISIONS = ("approved", "rejected")
_NOT_PENDING = {
    "checks_failed": "its checks failed: record what the failure names on the model, then run deploy again",
    "test_failed": "its test failed: run `saasbridge sagemaker deploy --model {model} --config {config} --retest`",
    "approved": "it is approved already: run `saasbridge sagemaker deploy --model {model} --config {config}`",
    "deployed": "it is deployed already",
    "deploy_failed": "its deployment failed after approval: see failure_reason",
    "rejected": "it was rejected: record a new endpoint configuration to ask again",
}


class ApprovalError(SaasBridgeError):
    """The approval request does not exist or cannot take a decision now."""


def decide(writer: ModelLogWriter, approval_id: str, decision: str, *, by: str, comment: str | None = None) -> str:
    """Record `decision` (approved | rejected) on a pending request; returns what to do next."""
    if decision not in DECISIONS:
        raise ApprovalError(f"decision {decision!r}: expected one of {', '.join(DECISIONS)}")
    record = writer.refresh("approvals", approval_id)
    if record is None:
        raise ApprovalError(f"no approval request {approval_id!r}; list them with `saasbridge sagemaker approvals list`")
    model, config = record["model_name"], arn_name(record["endpoint_config_arn"])
    if record["status"] != "pending":
        why = _NOT_PENDING.get(record["status"], "").format(model=model, config=config)
        raise ApprovalError(f"approvals/{approval_id} is {record['status']}, not pending: {why}")
    writer.put("approvals", {"id": approval_id, "decision": decision, "decided_by": by, "comment": comment})
    return (f"approvals/{approval_id}: {decision} by {by}; run `saasbridge sagemaker deploy --model {model} --config "
            f"{config}` to " + ("deploy" if decision == "approved" else "record the rejection"))  # fmt: skip


def list_approvals(writer: ModelLogWriter, *, status: str | None = None, model: str | None = None) -> list[dict]:
    """The requests (optionally with this status, or for this model name), oldest first."""
    records = writer.all_records("approvals").values()
    chosen = [r for r in records if (status is None or r.get("status") == status)
              and (model is None or r.get("model_name") == model)]  # fmt: skip
    return sorted(chosen, key=lambda r: (r.get("created_at") or "", r["id"]))
