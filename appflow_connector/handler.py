"""The AppFlow custom-connector Lambda: `lambda_handler(event, context)`.

`SaasBridgeConnectorHandler` is a `BaseLambdaConnectorHandler` (so the SDK's verification runner
can drive it) whose dispatch never lets an exception escape: every failure becomes the request
type's response with `isSuccess: false` and an errorCode (the SDK's own dispatcher would re-raise
a bare RuntimeError, which AppFlow only sees as "no valid response").
"""

from __future__ import annotations

from typing import Any

from custom_connector_sdk.lambda_handler import requests as rq
from custom_connector_sdk.lambda_handler import responses as r
from custom_connector_sdk.lambda_handler.lambda_handler import BaseLambdaConnectorHandler

from appflow_connector import session
from appflow_connector.configuration import SaasBridgeConfigurationHandler
from appflow_connector.errors import error_details
from appflow_connector.failures import error_response
from appflow_connector.metadata import SaasBridgeMetadataHandler
from appflow_connector.records import SaasBridgeRecordHandler
from saasbridge.telemetry import logger, report

_REQUESTS = {
    "ValidateConnectorRuntimeSettingsRequest": (rq.ValidateConnectorRuntimeSettingsRequest, "configuration_handler", "validate_connector_runtime_settings"),
    "ValidateCredentialsRequest": (rq.ValidateCredentialsRequest, "configuration_handler", "validate_credentials"),
    "DescribeConnectorConfigurationRequest": (rq.DescribeConnectorConfigurationRequest, "configuration_handler", "describe_connector_configuration"),
    "ListEntitiesRequest": (rq.ListEntitiesRequest, "metadata_handler", "list_entities"),
    "DescribeEntityRequest": (rq.DescribeEntityRequest, "metadata_handler", "describe_entity"),
    "QueryDataRequest": (rq.QueryDataRequest, "record_handler", "query_data"),
    "RetrieveDataRequest": (rq.RetrieveDataRequest, "record_handler", "retrieve_data"),
    "WriteDataRequest": (rq.WriteDataRequest, "record_handler", "write_data"),
}  # fmt: skip


class SaasBridgeConnectorHandler(BaseLambdaConnectorHandler):
    def __init__(self) -> None:
        super().__init__(
            SaasBridgeMetadataHandler(), SaasBridgeRecordHandler(), SaasBridgeConfigurationHandler()
        )

    def lambda_handler(self, event: Any, context: Any) -> dict:
        event_type = event.get("type") if isinstance(event, dict) else None
        if not isinstance(event_type, str):
            event_type = None  # a non-string "type" (a list, an object) is as unknown as a missing one
        try:
            _log_call(event, event_type)
            if event_type not in _REQUESTS:
                known = ", ".join(_REQUESTS)
                details = r.ErrorDetails(
                    r.ErrorCode.InvalidArgument,
                    f"unknown request type {event_type!r}; expected one of {known}",
                )
                return error_response(None, details)
            request_class, handler_name, method = _REQUESTS[event_type]
            try:
                request = request_class.from_dict(_normalise(event))
            except (AssertionError, KeyError, ValueError, TypeError, AttributeError) as exc:
                details = r.ErrorDetails(
                    r.ErrorCode.InvalidArgument, f"malformed {event_type}: {_describe(exc)}"
                )
                return error_response(event_type, details)
            handler = getattr(self, handler_name)
            if isinstance(handler, SaasBridgeRecordHandler):
                handler.lambda_context = context
            try:
                with session.metered() as meter:
                    return getattr(handler, method)(request).to_dict()
            finally:
                report("appflow", event_type, meter, run_id=("executionId", _execution_id(event)), context=context)
        except Exception as exc:  # the one place that turns every failure into a response
            return error_response(event_type, error_details(exc))


def _execution_id(event: dict) -> str | None:
    """AppFlow's flow run id, the key of the run's usage record."""
    ctx = event.get("connectorContext") if isinstance(event.get("connectorContext"), dict) else {}
    execution_id = ctx.get("executionId")
    return execution_id if isinstance(execution_id, str) else None


def _normalise(event: dict) -> dict:
    """Tolerate what the Python SDK's parser is needlessly strict about (see the protocol notes)."""
    event = dict(event)
    for key in ("maxResult", "maxResults"):
        if key in event and event[key] is None:
            del event[key]  # explicit null: the SDK would not apply its default
    ctx = event.get("connectorContext")
    if isinstance(ctx, dict) and "apiVersion" not in ctx:
        event["connectorContext"] = {**ctx, "apiVersion": None}
    return event


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing or unknown value {exc.args[0]!r}" if exc.args else "a required key is missing"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]


def _log_call(event: Any, event_type: str | None) -> None:
    """Log what identifies a call (never credentials or records)."""
    if not isinstance(event, dict):
        logger.warning("event is not a JSON object", extra={"eventType": type(event).__name__})
        return
    ctx = event.get("connectorContext") if isinstance(event.get("connectorContext"), dict) else {}
    logger.info(f"appflow {event_type}", extra={
        "requestType": event_type, "entity": event.get("entityIdentifier"), "flowName": ctx.get("flowName"),
        "executionId": ctx.get("executionId"), "filter": event.get("filterExpression")})


_handler: SaasBridgeConnectorHandler | None = None


def lambda_handler(event: dict, context: Any) -> dict:
    """The Lambda entry point (one handler per container)."""
    global _handler
    if _handler is None:
        _handler = SaasBridgeConnectorHandler()
    return _handler.lambda_handler(event, context)
