"""The rows to score, read through the AppFlow connector's extract path (QueryData pages, the
`--where` filter in AppFlow's filter language pushed down as usual), and the write path for the
predictions (WriteData UPSERT, keyed, so a re-run replaces rather than duplicates)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from saasbridge.errors import ConfigError
from saasbridge.local.flow_runner import profile
from saasbridge.local.flow_runner.extract import open_profile, runtime_settings
from saasbridge.local.flow_runner.protocol import ConnectorSession, FlowRunError
from saasbridge.local.flow_runner.transport import InProcessTransport, Transport, encode
from saasbridge.local.flow_runner.typing_ import parse_record

WRITE_BATCH = 100  # records per WriteData call


@dataclass
class Connection:
    """How to reach the connector (defaults: in process, the local profile secret)."""

    transport: Transport | None = None
    secret_arn: str | None = None
    profile_name: str = profile.DEFAULT_PROFILE
    api_url: str | None = None

    def open(self) -> ConnectorSession:
        return open_profile(
            self.transport or InProcessTransport(), runtime_settings(self.api_url, None),
            secret_arn=self.secret_arn, profile_name=self.profile_name,
        )  # fmt: skip


def entity_fields(session: ConnectorSession, entity: str) -> tuple[dict[str, dict], str | None]:
    """(fields by name, primary key) from DescribeEntity."""
    definition = session.describe_entity(entity)
    fields = {f["fieldName"]: f for f in definition.get("fields") or []}
    pk = next((n for n, f in fields.items() if f.get("isPrimaryKey")), None)
    return fields, pk


def read_rows(
    session: ConnectorSession, entity: str, columns: list[str], where: str | None, *, page_size: int = 1000
) -> Iterator[dict]:
    """The entity's records matching `where` (only `columns`), page by page."""
    token: str | None = None
    while True:
        response = session.query_data(
            entity, fields=columns, expression=where or None, max_results=page_size, token=token
        )
        for text in response.get("records") or []:
            yield parse_record(text)
        token = response.get("nextToken")
        if not token:
            return


def check_target(session: ConnectorSession, entity: str, wanted: list[str]) -> None:
    """The target entity must take UPSERT and have the prediction fields."""
    if "UPSERT" not in (session.configuration.get("supportedWriteOperations") or []):  # type: ignore[attr-defined]
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


def upsert(session: ConnectorSession, entity: str, records: list[dict]) -> list[str | None]:
    """Write records (each with its `id`); per record None when written, else the reason."""
    outcomes: list[str | None] = []
    for start in range(0, len(records), WRITE_BATCH):
        part = records[start : start + WRITE_BATCH]
        texts = [encode(r).decode() for r in part]
        try:
            response = session.write_data(entity, operation="UPSERT", records=texts, id_field_names=["id"])
        except FlowRunError as exc:
            outcomes.extend([f"write failed: {exc}"] * len(part))
            continue
        results = response.get("writeRecordResults") or []
        for offset in range(len(part)):
            result = results[offset] if offset < len(results) else None
            if result is not None and result.get("isSuccess"):
                outcomes.append(None)
            else:
                outcomes.append(f"write failed: {(result or {}).get('errorMessage') or 'no result for this record'}")
    return outcomes


def recorded_input_width(session: ConnectorSession, model: str) -> int | None:
    """How many input columns the model log recorded for `model` (its `input_schema`: `name:type,…`
    or a JSON list/object), None when the catalog has no model log or nothing is recorded."""
    import json

    from saasbridge.errors import SaasBridgeError

    try:
        rows = list(read_rows(session, "models", ["name", "input_schema"], f"name = '{model.replace(chr(39), '')}'"))
    except SaasBridgeError:  # no `models` entity in this catalog
        return None
    text = next((str(r["input_schema"]).strip() for r in rows if r.get("input_schema")), "")
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return len([part for part in text.split(",") if part.strip()])
    return len(value) if isinstance(value, (list, dict)) else None
