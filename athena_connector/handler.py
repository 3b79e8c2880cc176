"""The Lambda entry point: one composite function serves metadata and record requests.

Stateless between invocations apart from what is safe to reuse per container: the Runtime
(catalog, connection pool, rate budget, OAuth token) and the boto3 clients.
"""

from __future__ import annotations

import threading
from typing import Any

from athena_connector import errors
from athena_connector.config import Settings
from athena_connector.handlers import HANDLERS, Invocation
from athena_connector.protocol import Request, parse_request
from saasbridge import errors as core
from saasbridge.telemetry import logger, report

_lock = threading.Lock()
_container: dict[str, Any] = {}


def _cached(name: str, make: Any) -> Any:
    with _lock:
        if name not in _container:
            _container[name] = make()
        return _container[name]


def _runtime() -> Any:
    from saasbridge.runtime import Runtime

    return _cached("runtime", Runtime.from_env)


def _boto(service: str) -> Any:
    def make() -> Any:
        import boto3

        return boto3.client(service)

    return _cached(service, make)


def reset_container() -> None:
    """Forget the per-container state (tests change the environment between cases)."""
    with _lock:
        _container.clear()


def _deadline(context: Any) -> Any:
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    from saasbridge.client.deadline import Deadline

    return Deadline.from_lambda_context(context)


def _translate(exc: Exception) -> Exception:
    """Core errors → connector errors whose class name tells the Athena user what happened."""
    if isinstance(exc, errors.AthenaConnectorError):
        return exc
    if isinstance(exc, core.AuthenticationError):
        return errors.ApiAuthenticationError(
            f"the SaaS API rejected the connector's credentials (HTTP {exc.status or 401}); check "
            "SAASBRIDGE_API_KEY or the secret named by SAASBRIDGE_SECRET_ARN")
    if isinstance(exc, core.QuotaExhaustedError):
        return errors.ApiQuotaError(str(exc))
    if isinstance(exc, core.RateLimitedError):
        return errors.FederationThrottleException(f"the SaaS API kept rate-limiting the connector: {exc}")
    if isinstance(exc, core.ApiUnavailableError):
        return errors.ApiUnavailableError(f"the SaaS API is unavailable after retries: {exc}")
    if isinstance(exc, core.ApiError):
        return errors.ApiRequestError(f"the SaaS API rejected a request: {exc}")
    if isinstance(exc, core.DeadlineExceeded):
        return errors.QueryDeadlineError(
            "the split could not be read before the Lambda timeout; raise the function's timeout or make "
            "splits smaller (window_days in the catalog)")
    if isinstance(exc, core.UnknownEntityError):
        return errors.TableNotFoundError(exc.name, exc.available)
    if isinstance(exc, (core.ConfigError, core.CatalogError)):  # the function's catalog is part of its set-up
        return errors.ConfigurationError(str(exc))
    if isinstance(exc, core.QueryError):
        return errors.UnsupportedPredicateError(str(exc))
    return errors.AthenaConnectorError(
        f"internal error ({type(exc).__name__}); see the connector's CloudWatch log for this queryId")


def lambda_handler(event: dict, context: Any) -> dict:
    """Serve one federation request (dict in, dict out); raise a typed error on failure."""
    request: Request | None = None
    inv: Invocation | None = None
    try:
        request = parse_request(event)
        logger.append_keys(queryId=request.query_id, requestType=request.type, catalogName=request.catalog_name)
        handle = HANDLERS.get(request.type)
        if handle is None:
            raise errors.UnsupportedRequestError(
                f"unknown request type {request.type!r}; this connector serves {', '.join(HANDLERS)}")
        if request.type == "PingRequest":
            inv = Invocation(runtime=None, settings=Settings(), request=request)
        else:
            inv = Invocation(runtime=_runtime(), settings=Settings.from_env(), request=request,
                             deadline=_deadline(context), s3=lambda: _boto("s3"), kms=lambda: _boto("kms"))
        with inv.meter:
            response = handle(inv)
        logger.info("request served", extra={"serdeVersion": request.version})
        return response
    except Exception as exc:
        translated = _translate(exc)
        if translated is exc:
            logger.warning("request failed", extra={"errorType": type(exc).__name__, "error": str(exc)})
            raise
        logger.exception("request failed", extra={"errorType": type(translated).__name__})
        raise translated from None
    finally:
        if inv is not None and request is not None:
            report("athena", request.type, inv.meter, run_id=("queryId", request.query_id),
                   context=context, counters=inv.counters.metrics())
        logger.remove_keys(["queryId", "requestType", "catalogName"])
