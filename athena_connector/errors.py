"""Errors the connector raises to Athena. The Lambda runtime puts the class name in `errorType`
and the message in `errorMessage`, which Athena shows the user verbatim; so the class names say
what went wrong and the messages say how to fix it, in one line, without any secret."""

from __future__ import annotations

from saasbridge.errors import SaasBridgeError, UnknownEntityError


class AthenaConnectorError(SaasBridgeError):
    """Base of every error the Athena connector raises on purpose."""


class ProtocolError(AthenaConnectorError):
    """A request that is not a valid federation message (malformed event)."""


class UnsupportedRequestError(AthenaConnectorError):
    """A well-formed request the connector does not serve (unknown @type, UDFs, serde v1)."""


class TableNotFoundError(AthenaConnectorError, UnknownEntityError):
    """A schema or table name the catalog does not define."""

    def __init__(self, name: str, available: list[str], *, kind: str = "table"):
        UnknownEntityError.__init__(self, name, available)
        self.args = (f"{kind} {name!r} not found; available {kind}s: {', '.join(available) or '(none)'}",)

    def __str__(self) -> str:
        return self.args[0]


class UnsupportedPredicateError(AthenaConnectorError):
    """A pushed-down constraint or expression the connector cannot enforce exactly."""


class ApiAuthenticationError(AthenaConnectorError):
    """The SaaS API rejected the connector's credentials."""


class ApiUnavailableError(AthenaConnectorError):
    """The SaaS API kept failing (5xx, dropped connections) after every retry."""


class FederationThrottleException(AthenaConnectorError):
    """The SaaS API's rate limit did not clear in time. Named like the Java SDK's exception so
    that Athena can recognise it and slow down."""


class ApiQuotaError(AthenaConnectorError):
    """The credential's API request quota is nearly spent: new scans wait for it to reset."""


class ApiRequestError(AthenaConnectorError):
    """The SaaS API rejected a request (400) or answered with another error."""


class QueryDeadlineError(AthenaConnectorError):
    """The Lambda ran out of time before the split was read completely."""


class ValueTooLargeError(AthenaConnectorError):
    """One row holds a value larger than the largest block Athena accepts (16,000,000 bytes)."""


class SpillError(AthenaConnectorError):
    """Spilling to S3 failed (bucket missing, access denied, no spill bucket configured)."""


class ConfigurationError(AthenaConnectorError):
    """The Lambda's environment is incomplete or invalid."""
