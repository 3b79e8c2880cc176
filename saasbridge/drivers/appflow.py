"""Amazon AppFlow's part of the custom-connector protocol: the events it sends and how it treats
failed responses (a throttled call is sent again after the pause the connector asks for; anything
else ends the run).

`open_session(...)` does what creating a connection profile does (DescribeConnectorConfiguration,
the profile secret, and for a new or changed secret ValidateCredentials and
ValidateConnectorRuntimeSettings). On the session, `records(entity, filter, fields)` iterates an
entity's records (QueryData paging, stopping on a stalled nextToken) and `write(entity, operation,
records)` sends WriteData batches and returns one result per record, never dropping one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from saasbridge.drivers import appflow_profile as profile
from saasbridge.drivers.lambda_invoker import InProcessInvoker, Invoker, encode
from saasbridge.errors import SaasBridgeError

# The one errorCode the session sends again (unchanged, after retryAfterSeconds): the connector
# cannot wait out a throttle inside its 30 s call, so it hands the wait to AppFlow; that is what
# the SDK's retryAfterSeconds is for. Every other failure (ServiceUnavailable, ServerError,
# RequestTimeout, ...) comes after the connector's own HTTP retries (saasbridge/client/retry.py);
# sending the call again would repeat all of them, so it ends the run, as a failed AppFlow run
# does. Lambda-level throttles are the invoker's to retry (lambda_invoker.MAX_ATTEMPTS).
RETRYABLE = frozenset({"RateLimitExceeded"})
MAX_ATTEMPTS = 8  # for one call, the first included
MAX_PAUSE_SECONDS = 30.0
MAX_STALLED_CALLS = 25  # identical empty pages in a row before a run is declared stuck
DEFAULT_MAX_RESULTS = 1000
DEFAULT_WRITE_BATCH = 100


class FlowRunError(SaasBridgeError):
    """The connector answered a flow-run call with isSuccess: false (not retryable, or retries spent)."""


@dataclass(frozen=True)
class Page:
    """One QueryData answer's records: the record strings as sent, and parsed."""

    texts: list[str]
    records: list[dict]


@dataclass(frozen=True)
class WriteOutcome:
    """One record's WriteData result: `error` is None when it was written."""

    index: int  # 0-based position in the records given to `write`
    record_id: str | None  # as the connector reported it
    error: str | None


def parse_record(text: str) -> dict:
    """One AppFlow record string → dict, numbers kept exact (Decimal for non-integers)."""
    value = json.loads(text, parse_float=Decimal)
    if not isinstance(value, dict):
        raise FlowRunError(f"a record is not a JSON object: {text[:80]}")
    return value


def format_instant(value: dt.datetime) -> str:
    """The filter language's DateTime literal (UTC, milliseconds, `Z`)."""
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def runtime_settings(api_url: str | None, page_size: int | None = None) -> dict[str, str]:
    """The profile's connectorRuntimeSettings: instanceUrl (default SAASBRIDGE_API_URL) and pageSize."""
    settings = {}
    url = api_url or os.environ.get("SAASBRIDGE_API_URL")
    if url:
        settings["instanceUrl"] = url
    if page_size:
        settings["pageSize"] = str(page_size)
    return settings


class AppFlowSession:
    """One flow run's view of the connector: builds events with the run's connectorContext and
    sends them, retrying what AppFlow retries (RETRYABLE)."""

    def __init__(
        self,
        invoker: Invoker,
        *,
        secret_arn: str,
        authentication_type: str,
        runtime_settings: dict[str, str] | None = None,
        api_version: str | None = None,
        flow_name: str | None = None,
        execution_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.invoker = invoker
        self.credentials = {"secretArn": secret_arn, "authenticationType": authentication_type}
        self.runtime_settings = dict(runtime_settings or {})
        self.api_version = api_version
        self.flow_name = flow_name
        self.execution_id = execution_id
        self.configuration: dict = {}  # DescribeConnectorConfiguration's answer, once asked
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
        self.configuration = self.call({"type": "DescribeConnectorConfigurationRequest", "locale": "en-US"})
        return self.configuration

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

    # ------------------------------------------------------------------ records
    def pages(
        self,
        entity: str,
        filter: str | None = None,  # noqa: A002 - AppFlow's own word for it
        fields: list[str] | None = None,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
    ) -> Iterator[Page]:
        """QueryData with each nextToken until an answer has none. The same token back with no
        records `MAX_STALLED_CALLS` times in a row is a FlowRunError (the connector makes no progress)."""
        token: str | None = None
        stalled = 0
        while True:
            response = self.query_data(
                entity, fields=fields, expression=filter or None, max_results=max_results, token=token
            )
            texts = list(response.get("records") or [])
            yield Page(texts, [parse_record(t) for t in texts])
            new_token = response.get("nextToken")
            stalled = stalled + 1 if new_token and new_token == token and not texts else 0
            if stalled >= MAX_STALLED_CALLS:
                raise FlowRunError(
                    f"QueryData returned no records and the same nextToken {stalled} times: the connector "
                    "makes no progress (its per-call time budget may be too short for one API page)"
                )
            token = new_token
            if not token:
                return

    def records(
        self,
        entity: str,
        filter: str | None = None,  # noqa: A002 - AppFlow's own word for it
        fields: list[str] | None = None,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
    ) -> Iterator[dict]:
        """The entity's records matching `filter` (AppFlow's filter language), with `fields` only."""
        for page in self.pages(entity, filter, fields, max_results=max_results):
            yield from page.records

    def write(
        self,
        entity: str,
        operation: str,
        records: list[dict],
        *,
        id_field_names: list[str] | None = None,
        batch_size: int = DEFAULT_WRITE_BATCH,
        stop_on_call_failure: bool = True,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[WriteOutcome]:
        """WriteData in batches of `batch_size`; one outcome per record, in order. A call that fails
        (not a per-record failure) raises FlowRunError saying how many records were written before,
        or with `stop_on_call_failure=False` fails each record of its batch and goes on.
        `on_batch(records sent so far)` after each batch."""
        outcomes: list[WriteOutcome] = []
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            try:
                response = self.write_data(
                    entity, operation=operation, records=_texts(batch, start), id_field_names=id_field_names
                )
                results = response.get("writeRecordResults") or []
            except FlowRunError as exc:
                if stop_on_call_failure:
                    written = sum(o.error is None for o in outcomes)
                    raise FlowRunError(f"{exc} ({written} of {len(records)} rows were written before)") from None
                results = [{"isSuccess": False, "errorMessage": str(exc)}] * len(batch)
            for offset in range(len(batch)):
                result = results[offset] if offset < len(results) else {}
                rid = result.get("recordId")
                error = None if result.get("isSuccess") else str(
                    result.get("errorMessage") or "the connector returned no result for this record"
                )
                outcomes.append(WriteOutcome(start + offset, None if rid is None else str(rid), error))
            if on_batch is not None:
                on_batch(start + len(batch))
        return outcomes

    # ------------------------------------------------------------------ sending
    def call(self, event: dict, *, accept: Callable[[dict], bool] | None = None) -> dict:
        """Send `event`; send it again after a throttled answer (RETRYABLE); FlowRunError otherwise."""
        what = event["type"].removesuffix("Request")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            response = self.invoker.invoke(event).payload
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


def _texts(records: list[dict], start: int) -> list[str]:
    texts = []
    for offset, record in enumerate(records):
        try:
            texts.append(encode(record).decode())
        except TypeError as exc:
            raise FlowRunError(f"record {start + offset + 1} cannot be sent as JSON ({exc})") from None
    return texts


def open_session(
    invoker: Invoker | None = None,
    settings: dict[str, str] | None = None,
    *,
    secret_arn: str | None = None,
    profile_name: str = profile.DEFAULT_PROFILE,
) -> AppFlowSession:
    """A session on a connection profile (default: the AppFlow handler in this process, the
    profile secret created or updated from SAASBRIDGE_*)."""
    invoker = invoker or InProcessInvoker("appflow")
    probe = AppFlowSession(invoker, secret_arn="", authentication_type="ApiKey", runtime_settings=settings)
    configuration = probe.describe_connector_configuration()
    auth_type = profile.authentication_type(configuration)
    if secret_arn:
        arn, created = secret_arn, False
    else:
        values = profile.secret_values(auth_type)
        arn, created = profile.ensure_secret(profile.SECRET_NAME.format(profile=profile_name), values)
        if created and isinstance(invoker, InProcessInvoker):
            from saasbridge.client.credentials import clear_secret_cache

            clear_secret_cache()  # the in-process connector caches secrets like a warm Lambda
    versions = configuration.get("supportedApiVersions") or [None]
    session = AppFlowSession(
        invoker, secret_arn=arn, authentication_type=auth_type, runtime_settings=settings,
        api_version=versions[0],
    )  # fmt: skip
    session.configuration = configuration
    session.retries += probe.retries
    if created:
        session.validate_credentials()
        session.validate_runtime_settings("CONNECTOR_PROFILE")
    return session
