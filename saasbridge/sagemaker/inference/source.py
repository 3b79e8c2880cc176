"""The rows to score, read through the AppFlow driver (QueryData pages, the `--where` filter in
AppFlow's filter language pushed down as usual), and the write path for the predictions (WriteData
UPSERT, keyed, so a re-run replaces rather than duplicates)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

from saasbridge.drivers import appflow_profile as profile
from saasbridge.drivers.appflow import AppFlowSession, open_session, runtime_settings
from saasbridge.drivers.lambda_invoker import Invoker
from saasbridge.errors import ConfigError

WRITE_BATCH = 100  # records per WriteData call


@dataclass
class Connection:
    """How to reach the connector (defaults: in process, the local profile secret)."""

    invoker: Invoker | None = None
    secret_arn: str | None = None
    profile_name: str = profile.DEFAULT_PROFILE
    api_url: str | None = None

    def open(self) -> AppFlowSession:
        return open_session(
            self.invoker, runtime_settings(self.api_url), secret_arn=self.secret_arn, profile_name=self.profile_name
        )


def entity_fields(session: AppFlowSession, entity: str) -> tuple[dict[str, dict], str | None]:
    """(fields by name, primary key) from DescribeEntity."""
    definition = session.describe_entity(entity)
    fields = {f["fieldName"]: f for f in definition.get("fields") or []}
    pk = next((n for n, f in fields.items() if f.get("isPrimaryKey")), None)
    return fields, pk


def read_rows(session: AppFlowSession, entity: str, columns: list[str], where: str | None) -> Iterator[dict]:
    """The entity's records matching `where` (only `columns`)."""
    return session.records(entity, where, columns)


def check_target(session: AppFlowSession, entity: str, wanted: list[str]) -> dict[str, dict]:
    """The target entity must take UPSERT and have the prediction fields; returns its fields."""
    if "UPSERT" not in (session.configuration.get("supportedWriteOperations") or []):
        raise ConfigError("the connector does not support UPSERT, which keyed predictions need")
    fields, pk = entity_fields(session, entity)
    missing = [f for f in wanted if f not in fields]
    if missing:
        raise ConfigError(
            f"--into {entity}: lacks field(s) {', '.join(missing)}; a prediction target needs "
            f"{', '.join(wanted)}"
        )
    if pk != "id":
        raise ConfigError(f"--into {entity}: its primary key must be `id` (found {pk or 'none'})")
    return fields


def upsert(session: AppFlowSession, entity: str, records: list[dict]) -> list[str | None]:
    """Write records (each with its `id`); per record None when written, else the reason."""
    outcomes = session.write(
        entity, "UPSERT", records, id_field_names=["id"], batch_size=WRITE_BATCH, stop_on_call_failure=False
    )
    return [None if o.error is None else f"write failed: {o.error}" for o in outcomes]


MODEL_LOG_FIELDS = ("input_schema", "input_content_type", "output_content_type")


def model_record(session: AppFlowSession, model: str) -> dict:
    """What the model log recorded for `model` (those of MODEL_LOG_FIELDS its catalog has); {} when
    the catalog has no model log or no record of it."""
    from saasbridge.errors import SaasBridgeError

    session = copy.copy(session)  # describing `models` must not replace the caller's entity definition
    try:
        fields, _ = entity_fields(session, "models")
        columns = ["name", *(f for f in MODEL_LOG_FIELDS if f in fields)]
        rows = list(read_rows(session, "models", columns, f"name = '{model.replace(chr(39), '')}'"))
    except SaasBridgeError:  # no `models` entity in this catalog
        return {}
    return next((r for r in rows if r.get("name") == model), {})


def input_width(schema: str | None) -> int | None:
    """How many input columns an `input_schema` names (`name:type,…`, or a JSON list/object)."""
    import json

    text = (schema or "").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return len([part for part in text.split(",") if part.strip()])
    return len(value) if isinstance(value, (list, dict)) else None
