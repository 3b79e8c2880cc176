"""The model-log sync as a Lambda (template.yaml, ModelLogSync=true): on its schedule a full sync,
on a SageMaker state-change event an incremental one (what changed since shortly before the
event is described again, see `Inventory`; model packages are re-read anyway).

Needs only boto3 and the saasbridge core; not on the connectors' import path. The SaaS
credentials come from SAASBRIDGE_SECRET_ARN, AWS access from the function's role (or the
SAASBRIDGE_AWS_* options of `AwsAccess.from_env`); SAASBRIDGE_MODEL_LOG_TAGS (KEY=VALUE,…) limits
the sync to tagged models. With SAASBRIDGE_MODEL_LOG_GATE=true (its role then needs the gate's
write permissions) each run also mirrors approval decisions between the SaaS and the Model Registry
and starts the gated deployment (checks, test transform, approval request; `deploy`) for each
endpoint configuration it newly logged for an imported model: a failed check or test is left on the
approval record (status, failure_reason) for the SaaS to notify on, and nothing is deployed until a
reviewer approves.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from typing import Any

from saasbridge.errors import SaasBridgeError

log = logging.getLogger("saasbridge.sagemaker.sync")
EVENT_MARGIN = timedelta(minutes=15)  # EventBridge delivers late and out of order
STATE_CHANGES = frozenset({
    "SageMaker Endpoint State Change", "SageMaker Training Job State Change",
    "SageMaker Transform Job State Change", "SageMaker Model Package State Change",
})

_runtime = None  # one SaaS runtime per container: connection pool, token and rate budget reused


def since_for(event: Any) -> datetime | None:
    """None (full sync) for the schedule; the event's time minus a margin for a state change.
    Raises ValueError for an event that is neither."""
    if not isinstance(event, dict):
        raise ValueError("the event must be an EventBridge event object")
    kind = event.get("detail-type")
    if kind == "Scheduled Event":
        return None
    if kind in STATE_CHANGES:
        from saasbridge.sagemaker.modellog import parse_since

        return parse_since(str(event["time"]), "the event time") - EVENT_MARGIN if event.get("time") else None
    raise ValueError(f"unexpected event detail-type {kind!r}; expected the schedule or a SageMaker state change")


def parse_tags(text: str | None) -> dict[str, str]:
    tags = {}
    for item in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SaasBridgeError(f"SAASBRIDGE_MODEL_LOG_TAGS: {item!r} is not KEY=VALUE")
        tags[key] = value
    return tags


def lambda_handler(event: Any, context: Any = None) -> dict:
    """Sync; answers {"ok": true, "summary": …} or {"ok": false, "error": …} (never raises)."""
    global _runtime
    try:
        since = since_for(event)
        from saasbridge.runtime import Runtime
        from saasbridge.sagemaker.credentials import AwsAccess, aws_session
        from saasbridge.sagemaker.modellog import ModelLog

        if _runtime is None:
            _runtime = Runtime.from_env()
        session = aws_session(AwsAccess.from_env(os.environ))
        from saasbridge.sagemaker.modellog.deploy import gate_new_configurations, mirror_decisions

        model_log = ModelLog.open(session, _runtime.client(), since=since, progress=log.info)
        result = model_log.sync(parse_tags(os.environ.get("SAASBRIDGE_MODEL_LOG_TAGS")))
        gate = _flag(os.environ.get("SAASBRIDGE_MODEL_LOG_GATE"))
        mirrored = mirror_decisions(model_log) if gate else 0
        gated = gate_new_configurations(model_log) if gate else []
    except (ValueError, SaasBridgeError) as exc:
        log.error("model-log sync failed: %s", exc)
        return {"ok": False, "error": str(exc)}
    log.info("model-log sync: %s", result.summary())
    for outcome in gated:
        log.info("gate: %s", outcome.message)
    return {"ok": True, "summary": result.summary(), "written": result.written,
            "marked_deleted": result.marked_deleted, "incremental": since is not None, "mirrored": mirrored,
            "gated": [{"approval_id": o.approval_id, "status": o.status, "message": o.message} for o in gated]}


def _flag(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes")
