"""A SageMaker endpoint: what model it serves and which content type its model takes, and the
runtime client the real-time and asynchronous modes call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saasbridge.sagemaker.inference.payload import CONTENT_TYPES, CSV

MAX_ATTEMPTS = 8  # throttled or transient calls are retried by botocore (standard mode, backoff)
READ_TIMEOUT_SECONDS = 70  # InvokeEndpoint answers within 60 s


@dataclass(frozen=True)
class EndpointInfo:
    endpoint: str
    model: str
    content_type: str = CSV


def runtime_client(session: Any, *, concurrency: int, max_attempts: int = MAX_ATTEMPTS) -> Any:
    """A sagemaker-runtime client that retries throttling with botocore's backoff."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=max(10, concurrency),
        read_timeout=READ_TIMEOUT_SECONDS,
    )
    return session.client("sagemaker-runtime", config=config)


def describe_endpoint(session: Any, endpoint: str, *, content_type: str | None = None) -> EndpointInfo:
    """The endpoint's (first variant's) model name, and the content type its model package
    declares first among those we can build; the endpoint's name and CSV when the control plane
    cannot be read (a runtime-only role)."""
    from botocore.exceptions import BotoCoreError, ClientError

    sm = session.client("sagemaker")
    try:
        config_name = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        variants = sm.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"]
        model = variants[0]["ModelName"]
    except (ClientError, BotoCoreError, KeyError, IndexError):
        return EndpointInfo(endpoint, endpoint, content_type or CSV)
    return EndpointInfo(endpoint, model, content_type or _declared_content_type(sm, model))


def _declared_content_type(sm: Any, model: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        described = sm.describe_model(ModelName=model)
        containers = described.get("Containers") or [described.get("PrimaryContainer") or {}]
        package = next((c["ModelPackageName"] for c in containers if c.get("ModelPackageName")), None)
        if not package:
            return CSV
        spec = sm.describe_model_package(ModelPackageName=package).get("InferenceSpecification") or {}
    except (ClientError, BotoCoreError):
        return CSV
    declared = [t.split(";")[0].strip().lower() for t in spec.get("SupportedContentTypes") or []]
    return next((t for t in declared if t in CONTENT_TYPES), CSV)
