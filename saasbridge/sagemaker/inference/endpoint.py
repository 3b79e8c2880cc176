"""A SageMaker endpoint as the scorers need it, checked before any row is read: it exists and is in
service, what kind it is (real-time, serverless, asynchronous), which model it serves and which
content types that model takes and answers; and the runtime client the real-time and asynchronous
modes call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saasbridge.errors import ConfigError, aws_error_code, aws_error_line
from saasbridge.sagemaker.inference.payload import (
    CONTENT_TYPES,
    CSV,
    MAX_PAYLOAD_BYTES,
    SERVERLESS_MAX_PAYLOAD_BYTES,
    canonical_type,
)

MAX_ATTEMPTS = 8  # throttled or transient calls are retried by botocore (standard mode, backoff)
READ_TIMEOUT_SECONDS = 70  # InvokeEndpoint answers within 60 s (a serverless cold start included)
SERVING_STATUSES = ("InService", "Updating", "SystemUpdating", "RollingBack")  # these take requests
REALTIME, SERVERLESS, ASYNC, UNKNOWN = "realtime", "serverless", "async", "unknown"
_DENIED = ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation")


@dataclass(frozen=True)
class EndpointInfo:
    endpoint: str
    model: str
    content_type: str = CSV
    accept: str | None = None  # None: the same as content_type
    kind: str = UNKNOWN  # REALTIME, SERVERLESS, ASYNC, or UNKNOWN when the control plane is closed to us
    declared_types: tuple[str, ...] = ()  # the model package's SupportedContentTypes, if any

    @property
    def max_payload_bytes(self) -> int:
        return SERVERLESS_MAX_PAYLOAD_BYTES if self.kind == SERVERLESS else MAX_PAYLOAD_BYTES


def runtime_client(session: Any, *, concurrency: int, max_attempts: int = MAX_ATTEMPTS) -> Any:
    """A sagemaker-runtime client that retries throttling with botocore's backoff."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=max(10, concurrency),
        read_timeout=READ_TIMEOUT_SECONDS,
    )
    return session.client("sagemaker-runtime", config=config)


def unreachable(client: Any, exc: BaseException) -> ConfigError:
    """A call that never got an answer: no credentials to sign it, or SageMaker not reachable (say
    where we tried, not what failed after)."""
    from botocore.exceptions import NoCredentialsError, PartialCredentialsError

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigError(f"no AWS credentials for SageMaker ({aws_error_line(exc)}); set the standard AWS variables, "
                           "--profile, or --role-arn with --web-identity-token-file")  # fmt: skip
    url = client.meta.endpoint_url
    hint = " (is `saasbridge sagemaker serve` running there?)" if url.startswith("http://127.") else ""
    return ConfigError(f"SageMaker is unreachable at {url}{hint}: {aws_error_line(exc)}; check --region, the "
                       "network and AWS_ENDPOINT_URL")  # fmt: skip


def credentials_failed(exc: BaseException) -> ConfigError | None:
    """When the call failed getting its credentials (AssumeRole refused: a role that does not trust
    us, a wrong external id), that, said as such; None for a failure of the call itself."""
    operation = getattr(exc, "operation_name", "")
    if operation not in ("AssumeRole", "AssumeRoleWithWebIdentity"):
        return None
    return ConfigError(f"cannot get AWS credentials: {operation} failed: {aws_error_line(exc)}; check --role-arn, "
                       "--external-id and the role's trust policy")  # fmt: skip


def describe_endpoint(
    session: Any, endpoint: str, *, content_type: str | None = None, accept: str | None = None
) -> EndpointInfo:
    """The endpoint checked (it exists and takes requests), its kind, its (first variant's) model
    and the content types to use: `content_type`/`accept` when given (refused when the model
    package declares others), else the first the package declares that we can build, else CSV.
    A role that may only invoke (DescribeEndpoint denied) gets the endpoint's name as the model,
    kind UNKNOWN, and CSV."""
    from botocore.exceptions import BotoCoreError, ClientError

    sm = session.client("sagemaker")
    chosen = canonical_type(content_type) if content_type else None
    try:
        described = sm.describe_endpoint(EndpointName=endpoint)
        config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    except ClientError as exc:
        if credentials_failed(exc):
            raise credentials_failed(exc) from None
        if aws_error_code(exc) in _DENIED:
            return EndpointInfo(endpoint, endpoint, chosen or CSV, accept)
        if "could not find" in str(exc).lower() or "not found" in str(exc).lower():
            raise ConfigError(f"endpoint {endpoint} not found in region {sm.meta.region_name}; check --endpoint "
                              "and --region (`aws sagemaker list-endpoints`)") from None  # fmt: skip
        raise ConfigError(f"cannot describe endpoint {endpoint}: {aws_error_line(exc)}") from None
    except BotoCoreError as exc:
        raise unreachable(sm, exc) from None
    status = described.get("EndpointStatus", "InService")
    if status not in SERVING_STATUSES:
        reason = f": {described['FailureReason']}" if described.get("FailureReason") else ""
        raise ConfigError(f"endpoint {endpoint} is {status}, not InService{reason}; score once it is in service")
    variants = config.get("ProductionVariants") or [{}]
    model = variants[0].get("ModelName") or endpoint
    kind = ASYNC if config.get("AsyncInferenceConfig") else SERVERLESS if variants[0].get("ServerlessConfig") else REALTIME
    declared, answers = _declared_types(sm, model)
    if chosen and declared and chosen not in declared:
        raise ConfigError(f"--content-type {chosen}: model {model} declares {', '.join(declared)}; pick one of those")
    buildable = [t for t in declared if t in CONTENT_TYPES]
    if declared and not chosen and not buildable:
        raise ConfigError(f"model {model} takes {', '.join(declared)}; saasbridge builds {', '.join(CONTENT_TYPES)}")
    picked = chosen or (buildable[0] if buildable else CSV)
    if accept is None and answers:
        accept = picked if picked in answers else next((t for t in answers if t in CONTENT_TYPES), None)
    return EndpointInfo(endpoint, model, picked, accept, kind, tuple(declared))


def check_mode(info: EndpointInfo, mode: str) -> None:
    """The endpoint's kind fits the mode (asynchronous requests only to an asynchronous endpoint,
    and real-time ones never to it)."""
    if info.kind == UNKNOWN:
        return
    if mode == "async" and info.kind != ASYNC:
        raise ConfigError(f"endpoint {info.endpoint} is a {info.kind} endpoint (no AsyncInferenceConfig): it takes "
                          "no asynchronous requests; use --mode realtime")  # fmt: skip
    if mode == "realtime" and info.kind == ASYNC:
        raise ConfigError(f"endpoint {info.endpoint} is asynchronous: it takes no real-time requests; use --mode "
                          "async --s3-uri s3://bucket/prefix")  # fmt: skip


def _declared_types(sm: Any, model: str) -> tuple[list[str], list[str]]:
    """(SupportedContentTypes, SupportedResponseMIMETypes) of the model's registry package, if any."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        described = sm.describe_model(ModelName=model)
        containers = described.get("Containers") or [described.get("PrimaryContainer") or {}]
        package = next((c["ModelPackageName"] for c in containers if c.get("ModelPackageName")), None)
        if not package:
            return [], []
        spec = sm.describe_model_package(ModelPackageName=package).get("InferenceSpecification") or {}
    except (ClientError, BotoCoreError):
        return [], []
    return ([canonical_type(t) for t in spec.get("SupportedContentTypes") or []],
            [canonical_type(t) for t in spec.get("SupportedResponseMIMETypes") or []])  # fmt: skip


def check_model(session: Any, model: str) -> None:
    """A SageMaker model named `model` exists (what a batch transform without an endpoint runs)."""
    from botocore.exceptions import BotoCoreError, ClientError

    sm = session.client("sagemaker")
    try:
        sm.describe_model(ModelName=model)
    except ClientError as exc:
        if credentials_failed(exc):
            raise credentials_failed(exc) from None
        if aws_error_code(exc) in _DENIED:
            return
        raise ConfigError(f"--model-name {model}: no such SageMaker model in region {sm.meta.region_name} "
                          f"({aws_error_line(exc)})") from None  # fmt: skip
    except BotoCoreError as exc:
        raise unreachable(sm, exc) from None
