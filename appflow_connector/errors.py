"""Every failure as AppFlow's `errorDetails`: exceptions → ErrorCode (the response each request type
answers with is in `failures`)."""

from __future__ import annotations

import math

from custom_connector_sdk.lambda_handler import responses as r

from saasbridge.errors import (
    ApiError,
    ApiUnavailableError,
    AuthenticationError,
    BadRequestError,
    CatalogError,
    ConfigError,
    DeadlineExceeded,
    NotFoundError,
    QueryError,
    QuotaExhaustedError,
    RateLimitedError,
    SaasBridgeError,
    UnknownEntityError,
)
from saasbridge.telemetry import logger

MAX_MESSAGE = 1000  # AppFlow caps some status messages at 1024 characters


class ConnectorError(SaasBridgeError):
    """A failure the connector reports with a specific ErrorCode."""

    def __init__(self, code: r.ErrorCode, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


def error_details(exc: BaseException) -> r.ErrorDetails:
    """The ErrorDetails for an exception; messages are ours (one line, never a credential)."""
    code, retry = _classify(exc)
    message = str(exc) if isinstance(exc, SaasBridgeError) else f"internal error ({type(exc).__name__})"
    if code is r.ErrorCode.UnknownError:
        logger.error(f"unexpected {type(exc).__name__} while handling the request", exc_info=exc)
    message = " ".join(message.split())[:MAX_MESSAGE] or type(exc).__name__
    return r.ErrorDetails(code, message, retry)


def _classify(exc: BaseException) -> tuple[r.ErrorCode, int | None]:
    E = r.ErrorCode
    if isinstance(exc, ConnectorError):
        return exc.code, exc.retry_after
    if isinstance(exc, QuotaExhaustedError):  # hours until the reset: fail the flow run, do not retry it
        return E.ClientError, None
    if isinstance(exc, RateLimitedError):
        return E.RateLimitExceeded, max(1, math.ceil(exc.retry_after or 1))
    if isinstance(exc, AuthenticationError):
        return (E.AccessDenied if exc.status == 403 else E.InvalidCredentials), None
    if isinstance(exc, (BadRequestError, QueryError, UnknownEntityError, ConfigError, CatalogError)):
        return E.InvalidArgument, None
    if isinstance(exc, NotFoundError):
        return E.ResourceNotFoundError, None
    if isinstance(exc, DeadlineExceeded):
        return E.RequestTimeout, None
    if isinstance(exc, ApiUnavailableError):
        retry = math.ceil(exc.retry_after) if exc.retry_after else None
        # The API stayed down through every retry (5xx or no answer): AppFlow retries the flow
        # later on ServiceUnavailable, whatever the last status was.
        return E.ServiceUnavailable, retry
    if isinstance(exc, ApiError):
        status = exc.status or 0
        if status == 408:
            return E.RequestTimeout, None
        if 400 <= status < 500:
            return E.ClientError, None
        return E.ServerError, None
    return E.UnknownError, None
