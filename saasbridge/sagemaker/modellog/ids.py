"""Model-log record ids derived from SageMaker ARNs, and SageMaker console links."""

from __future__ import annotations

import hashlib

MAX_ID = 128  # the reference API's id limit (letters, digits, _ - . :)


def record_id(arn: str) -> str:
    """The record id of a SageMaker asset: its ARN with `/` as `:` (names cannot hold either), or a
    digest when that is too long. Same ARN, same id: a re-import upserts instead of duplicating."""
    readable = arn.replace("/", ":")
    if len(readable) <= MAX_ID and all(c.isalnum() or c in "_-.:" for c in readable):
        return readable
    return "sha256:" + hashlib.sha256(arn.encode()).hexdigest()


def approval_id(model_arn: str, endpoint_config_arn: str) -> str:
    """One approval request per (model, endpoint configuration): re-running never asks twice."""
    digest = hashlib.sha256(f"{model_arn}\n{endpoint_config_arn}".encode()).hexdigest()
    return f"apr_{digest[:40]}"


def arn_name(arn: str) -> str:
    """The resource name of an ARN (`…:model/churn` → `churn`)."""
    return arn.split(":", 5)[-1].split("/", 1)[-1]


_CONSOLE_KINDS = {
    "model": "models", "endpoint-config": "endpointConfig", "endpoint": "endpoints",
    "training-job": "jobs", "transform-job": "transform-jobs", "model-card": "model-cards",
}


def console_url(arn: str) -> str | None:
    """The SageMaker console page of an asset, when the console has one per asset of that kind (a
    versioned model package: its version's page in the Model Registry)."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    region, resource = parts[3], parts[5]
    kind, _, name = resource.partition("/")
    if kind == "model-package" and "/" in name:
        group, _, version = name.partition("/")
        page, name = "model-registry", f"{group}/versions/{version}"
    else:
        page = _CONSOLE_KINDS.get(kind)
    if page is None or not name:
        return None
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/{page}/{name}"
