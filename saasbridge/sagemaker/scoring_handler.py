"""The sealed scoring API's Lambda (template.yaml, `EnableScoringApi`): API Gateway passes
`POST /endpoints/{name}/invocations`; the function, in the customer's VPC, calls InvokeEndpoint
and answers with the model's body. The SaaS holds no SageMaker permission, only the right to call
this API. boto3 only. Environment: `ALLOWED_ENDPOINTS`, the template's ScoringEndpoints: an
endpoint name or a name prefix ending in `*` (the same pattern scopes the role's InvokeEndpoint)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from saasbridge.errors import aws_error_code, aws_error_message

MAX_BODY_BYTES = 6 * 1024 * 1024
_client: Any = None


def _runtime() -> Any:
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        _client = boto3.client("sagemaker-runtime", config=Config(retries={"mode": "standard", "max_attempts": 4}))
    return _client


def _error(status: int, code: str, message: str) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"error": code, "message": message})}  # fmt: skip


def _allowed(name: str) -> bool:
    pattern = os.environ.get("ALLOWED_ENDPOINTS", "").strip()
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return bool(pattern) and name == pattern


# SageMaker runtime errors → the status the SaaS sees (it retries 429 and 503).
_STATUS = {"ThrottlingException": 429, "ModelError": 424, "ModelNotReadyException": 503,
           "ServiceUnavailable": 503, "ValidationError": 400, "ValidationException": 400}  # fmt: skip


def lambda_handler(event: Any, context: Any = None) -> dict:
    """An API Gateway proxy event in, a proxy response out; never raises on a malformed event."""
    if not isinstance(event, dict):
        return _error(400, "BadRequest", "the event is not an API Gateway proxy event")
    name = (event.get("pathParameters") or {}).get("name")
    if not isinstance(name, str) or not name:
        return _error(400, "BadRequest", "the path must be /endpoints/{name}/invocations")
    if not _allowed(name):
        return _error(403, "Forbidden", f"endpoint {name!r} is not served by this scoring API")
    body = event.get("body") or ""
    try:
        payload = base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode()
    except (ValueError, TypeError):
        return _error(400, "BadRequest", "the body is not valid base64")
    if not payload or len(payload) > MAX_BODY_BYTES:
        return _error(400, "BadRequest", f"the body must hold 1 to {MAX_BODY_BYTES} bytes")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "text/csv")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = _runtime().invoke_endpoint(
            EndpointName=name, Body=payload, ContentType=content_type, Accept=headers.get("accept", content_type)
        )
    except ClientError as exc:
        code = aws_error_code(exc)
        return _error(_STATUS.get(code, 502), code, aws_error_message(exc))
    except BotoCoreError as exc:
        return _error(502, "EndpointUnreachable", aws_error_message(exc))
    return {
        "statusCode": 200,
        "headers": {"Content-Type": answer.get("ContentType") or content_type},
        "body": base64.b64encode(answer["Body"].read()).decode(),
        "isBase64Encoded": True,
    }
