"""AppFlow's side of the protocol: the events it sends, and how it treats failed responses
(throttling and transient errors are retried after a pause; anything else ends the run)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from saasbridge.errors import SaasBridgeError
from saasbridge.local.flow_runner.transport import Transport

# errorCodes AppFlow can retry: the request is sent again unchanged.
RETRYABLE = {"RateLimitExceeded", "ServiceUnavailable", "RequestTimeout", "ServerError"}
MAX_ATTEMPTS = 8
MAX_PAUSE_SECONDS = 30.0


class FlowRunError(SaasBridgeError):
    """The connector answered a flow-run call with isSuccess: false (not retryable, or retries spent)."""


class ConnectorSession:
    """One flow run's view of the connector: builds events with the run's connectorContext and
    sends them, retrying what AppFlow retries."""

    def __init__(
        self,
        transport: Transport,
        *,
        secret_arn: str,
        authentication_type: str,
        runtime_settings: dict[str, str] | None = None,
        api_version: str | None = None,
        flow_name: str | None = None,
        execution_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.transport = transport
        self.credentials = {"secretArn": secret_arn, "authenticationType": authentication_type}
        self.runtime_settings = dict(runtime_settings or {})
        self.api_version = api_version
        self.flow_name = flow_name
        self.execution_id = execution_id
        self.entity_definition: dict | None = None
        self.retries = 0
        self._sleep = sleep

    # ------------------------------------------------------------------ events
    def connector_context(self) -> dict:
        ctx: dict[str, Any] = {
            "connectorRuntimeSettings": self.runtime_settings,
            "credentials": self.credentials,
            "apiVersion": self.api_version,
        }
        if self.flow_name:
            ctx.update(
                flowName=self.flow_name,
                executionId=self.execution_id,
                connectorProfileLabel="saasbridge-local",
            )
        if self.entity_definition is not None:
            ctx["entityDefinition"] = self.entity_definition
        return ctx

    def describe_connector_configuration(self) -> dict:
        return self.call({"type": "DescribeConnectorConfigurationRequest", "locale": "en-US"})

    def validate_credentials(self) -> dict:
        return self.call(
            {
                "type": "ValidateCredentialsRequest",
                "credentials": self.credentials,
                "connectorRuntimeSettings": self.runtime_settings,
            }
        )

    def validate_runtime_settings(self, scope: str) -> dict:
        return self.call(
            {
                "type": "ValidateConnectorRuntimeSettingsRequest",
                "scope": scope,
                "connectorRuntimeSettings": self.runtime_settings,
            }
        )

    def describe_entity(self, entity: str) -> dict:
        response = self.call(
            {
                "type": "DescribeEntityRequest",
                "entityIdentifier": entity,
                "connectorContext": self.connector_context(),
            }
        )
        # AppFlow passes the definition back on record calls ("compressed form").
        self.entity_definition = response["entityDefinition"]
        return response["entityDefinition"]

    def query_data(
        self,
        entity: str,
        *,
        fields: list[str] | None,
        expression: str | None,
        max_results: int,
        token: str | None,
    ) -> dict:
        return self.call(
            {
                "type": "QueryDataRequest",
                "entityIdentifier": entity,
                "selectedFieldNames": fields,
                "filterExpression": expression,
                "maxResults": max_results,
                "nextToken": token,
                "connectorContext": self.connector_context(),
            }
        )

    def write_data(
        self, entity: str, *, operation: str, records: list[str], id_field_names: list[str] | None
    ) -> dict:
        event = {
            "type": "WriteDataRequest",
            "entityIdentifier": entity,
            "operation": operation,
            "idFieldNames": id_field_names,
            "records": records,
            "allOrNone": False,
            "connectorContext": self.connector_context(),
        }
        # A partial failure is an answer (per-record results), not a call failure.
        return self.call(event, accept=lambda r: bool(r.get("writeRecordResults")))

    # ------------------------------------------------------------------ sending
    def call(self, event: dict, *, accept: Callable[[dict], bool] | None = None) -> dict:
        """Send `event`; retry retryable failures with AppFlow-like pauses; FlowRunError otherwise."""
        what = event["type"].removesuffix("Request")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            response = self.transport.invoke(event)
            if response.get("isSuccess") is True or (accept is not None and accept(response)):
                return response
            details = response.get("errorDetails") or {}
            code = details.get("errorCode") or "UnknownError"
            message = str(details.get("errorMessage") or "no error message")[:300]
            if code not in RETRYABLE or attempt == MAX_ATTEMPTS:
                spent = f" after {attempt} attempts" if attempt > 1 else ""
                raise FlowRunError(f"{what} failed{spent}: {code}: {message}")
            self.retries += 1
            pause = details.get("retryAfterSeconds")
            pause = (
                float(pause) if isinstance(pause, (int, float)) and pause >= 0 else 0.2 * 2 ** (attempt - 1)
            )
            self._sleep(min(pause, MAX_PAUSE_SECONDS))
        raise AssertionError("unreachable")
