"""Which model version produced a prediction, and which rows' predictions are older than the
version serving now.

A version is what an endpoint serves: the model of each variant (its Model Registry package ARN,
which names group and version, when the model was made from one; else the model ARN) and the
endpoint configuration, written `<model or package>[,…]@<configuration name>`. Every prediction
records it (`model_version`), so a new model or configuration makes the older predictions
recognisably stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from saasbridge.errors import ConfigError
from saasbridge.sagemaker.aws import AwsCallError, AwsService

VERSION_FIELD = "model_version"


def serving_version(session: Any, endpoint: str) -> str | None:
    """The version `endpoint` serves now; None when the control plane cannot be read (a role that
    may only invoke) or the endpoint does not exist."""
    sm = AwsService(session.client("sagemaker"))
    try:
        described = sm.call("describe_endpoint", missing=True, EndpointName=endpoint)
        if described is None:
            return None
        config = sm.call("describe_endpoint_config", EndpointConfigName=described["EndpointConfigName"])
        sources = sorted({_model_source(sm, v["ModelName"]) for v in config.get("ProductionVariants") or []})
    except AwsCallError:
        return None
    return f"{','.join(sources)}@{config['EndpointConfigName']}"


def _model_source(sm: AwsService, model_name: str) -> str:
    described = sm.call("describe_model", ModelName=model_name)
    containers = described.get("Containers") or [described.get("PrimaryContainer") or {}]
    package = next((c["ModelPackageName"] for c in containers if c.get("ModelPackageName")), None)
    return package if package and package.startswith("arn:") else described["ModelArn"]


def latest_versions(predictions: Iterable[dict], entity: str, endpoint: str) -> dict[str, str | None]:
    """Row id → the version of its newest prediction from `endpoint` (None: recorded without one)."""
    newest: dict[str, tuple[str, str | None]] = {}
    for p in predictions:
        if p.get("entity_type") != entity or p.get("endpoint") != endpoint:
            continue
        at = str(p.get("predicted_at") or p.get("updated_at") or "")
        row = str(p.get("entity_id"))
        if row not in newest or at >= newest[row][0]:
            newest[row] = (at, p.get(VERSION_FIELD))
    return {row: version for row, (_at, version) in newest.items()}


def up_to_date_rows(predictions: Iterable[dict], entity: str, endpoint: str, version: str) -> set[str]:
    """The rows whose newest prediction from `endpoint` came from `version`."""
    return {row for row, v in latest_versions(predictions, entity, endpoint).items() if v == version}


def require_version(version: str | None, endpoint: str | None) -> str:
    """The serving version `--stale-only` compares with, or a one-line error."""
    if not endpoint:
        raise ConfigError("--stale-only needs --endpoint: the version serving now is the endpoint's")
    if version is None:
        raise ConfigError(f"--stale-only: cannot read which version endpoint {endpoint} serves (DescribeEndpoint, "
                          "DescribeEndpointConfig and DescribeModel must be allowed)")  # fmt: skip
    return version
