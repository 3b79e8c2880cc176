"""The exceptions every layer raises. Messages are one line, say what is wrong and how to fix it,
and never contain a credential."""

from __future__ import annotations

import re


class SaasBridgeError(Exception):
    """Base of every error saasbridge raises on purpose."""


class ConfigError(SaasBridgeError):
    """Bad configuration: environment variables, flags, missing credentials."""


class CatalogError(SaasBridgeError):
    """The catalog file is invalid. The message names the file, the path inside it and the fix."""


class UnknownEntityError(SaasBridgeError):
    """A table/entity name that the catalog does not define."""

    def __init__(self, name: str, available: list[str]):
        self.name = name
        self.available = available
        super().__init__(f"unknown table/entity {name!r}; available: {', '.join(available) or '(none)'}")


class QueryError(SaasBridgeError):
    """A query (SQL, filter expression, constraints) that cannot be answered as written."""


class ApiError(SaasBridgeError):
    """The SaaS API answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class AuthenticationError(ApiError):
    """401/403: the credentials are missing, wrong or expired."""


class NotFoundError(ApiError):
    """404 for a fetch by id."""


class BadRequestError(ApiError):
    """400: the API rejected the request's parameters."""


class RateLimitedError(ApiError):
    """429 (or a configured quota response) that did not clear within the retry budget."""


class ApiUnavailableError(ApiError):
    """5xx or dropped connections that did not clear within the retry budget."""


class DeadlineExceeded(SaasBridgeError):
    """Not enough time left to start the next request. `resume` says where to continue."""

    def __init__(self, message: str, resume: dict | None = None):
        super().__init__(message)
        self.resume = resume


class QuotaExhaustedError(RateLimitedError):
    """A new scan refused: the credential's daily or hourly request quota is nearly spent."""


def aws_error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore error (`AccessDeniedException`), else the exception's type
    name: safe in a message, it never carries a secret."""
    return str(_aws_error(exc).get("Code") or type(exc).__name__)


def aws_error_message(exc: BaseException) -> str:
    """The AWS error's message (else the exception's text) as one line of at most 300 characters;
    an HTML error page is reduced to its text."""
    text = re.sub(r"<[^>]*>", " ", str(_aws_error(exc).get("Message") or exc))
    return " ".join(text.split())[:300]


def aws_error_line(exc: BaseException) -> str:
    """`Code: message` of a botocore error, one line: the form every AWS failure is reported in."""
    return f"{aws_error_code(exc)}: {aws_error_message(exc)}"


def _aws_error(exc: BaseException) -> dict:
    response = getattr(exc, "response", None)
    return (response.get("Error") or {}) if isinstance(response, dict) else {}
