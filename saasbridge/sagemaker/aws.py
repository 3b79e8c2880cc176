"""Calls to AWS with one-line errors: a refused call names the IAM action to grant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from saasbridge.errors import SaasBridgeError, aws_error_code, aws_error_message

_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized"})
_NOT_FOUND_MESSAGES = ("could not find", "does not exist", "not found", "cannot find")


class AwsCallError(SaasBridgeError):
    """An AWS call failed; the message names the call (and the IAM action when access was denied)."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code

    @property
    def server_side(self) -> bool:
        """The service failed (5xx), not the request."""
        return self.code in ("500", "502", "503", "InternalFailure", "InternalError", "ServiceUnavailable")


class AwsAccessDenied(AwsCallError):
    """The credentials lack an IAM permission."""


class AwsService:
    """A boto3 client whose calls raise one-line `AwsCallError`s; `missing` answers None for not-found."""

    def __init__(self, client: Any):
        self.client = client
        self.prefix = client.meta.service_model.signing_name  # the IAM service prefix, e.g. sagemaker
        self.region: str = client.meta.region_name

    def call(self, operation: str, *, missing: bool = False, **params: Any) -> Any:
        """`client.<operation>(**params)`; with `missing`, None when the resource does not exist."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**params)
        except ClientError as exc:
            code, message = aws_error_code(exc), aws_error_message(exc)
            action = f"{self.prefix}:{exc.operation_name}"
            if code in _DENIED:
                raise AwsAccessDenied(
                    f"AWS denied {action}; grant the IAM action {action} to the role or user saasbridge uses", code
                ) from None
            not_found = code in ("NoSuchKey", "404", "ResourceNotFound", "ResourceNotFoundException") or (
                code == "ValidationException" and any(m in message.lower() for m in _NOT_FOUND_MESSAGES)
            )
            if missing and not_found:
                return None
            raise AwsCallError(f"{action} failed: {code}: {message}", code) from None
        except BotoCoreError as exc:
            raise AwsCallError(f"{self.prefix}:{operation} failed: {aws_error_message(exc)}") from None

    def pages(self, operation: str, key: str, **params: Any) -> Iterator[Any]:
        """Every item under `key` across the operation's pages (NextToken)."""
        while True:
            answer = self.call(operation, **params)
            yield from answer.get(key, [])
            token = answer.get("NextToken")
            if not token:
                return
            params = {**params, "NextToken": token}
