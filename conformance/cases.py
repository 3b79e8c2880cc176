"""What the pytest suite and the conformance launcher both need: where the recorded fixtures live
(inside the repo), how a recorded AppFlow event is re-pointed at the reference API, and how a value
is read off a reference-API record. The tests import this module; nothing here imports `tests`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
ATHENA_FIXTURES = FIXTURES / "athena"
APPFLOW_FIXTURES = FIXTURES / "appflow"

# The recorded AppFlow events describe a fictional "Acme Helpdesk" Ticket entity; these map its
# fields onto the reference API's `accounts` (reads) and `predictions` (writes).
READ_FIELDS = {"subject": "name", "status": "country", "priority": "employees", "isEscalated": "is_active",
               "updatedAt": "updated_at", "createdDate": "created_at", "tags": "industry", "customFields": "address"}  # fmt: skip
WRITE_FIELDS = {"subject": "model", "status": "label"}
# request fixture → the response fixture whose shape it must produce
PAIRS = {
    "DescribeConnectorConfigurationRequest.json": "DescribeConnectorConfigurationResponse.oauth2.json",
    "DescribeConnectorConfigurationRequest.minimal.json": "DescribeConnectorConfigurationResponse.apiKeyBasicCustom.json",
    "ValidateCredentialsRequest.apiKey.json": "ValidateCredentialsResponse.success.json",
    "ValidateCredentialsRequest.oauth2.json": "ValidateCredentialsResponse.success.json",
    "ValidateCredentialsRequest.customAuth.json": "ValidateCredentialsResponse.success.json",
    "ValidateConnectorRuntimeSettingsRequest.connectorProfile.json": "ValidateConnectorRuntimeSettingsResponse.success.json",
    "ValidateConnectorRuntimeSettingsRequest.source.json": "ValidateConnectorRuntimeSettingsResponse.success.json",
    "ValidateConnectorRuntimeSettingsRequest.invalid.json": "ValidateConnectorRuntimeSettingsResponse.fieldErrors.json",
    "ListEntitiesRequest.root.json": "ListEntitiesResponse.page1.json",
    "ListEntitiesRequest.page2.json": "ListEntitiesResponse.nested.json",
    "ListEntitiesRequest.nested.json": "ListEntitiesResponse.nested.json",
    "DescribeEntityRequest.json": "DescribeEntityResponse.json",
    "QueryDataRequest.fullLoad.json": "QueryDataResponse.page1.json",
    "QueryDataRequest.nextPage.json": "QueryDataResponse.page1.json",
    "QueryDataRequest.incrementalBetween.json": "QueryDataResponse.lastPage.json",
    "QueryDataRequest.incrementalGreaterThan.json": "QueryDataResponse.page1.json",
    "QueryDataRequest.userFilterPlusIncremental.json": "QueryDataResponse.lastPage.json",
    "QueryDataRequest.containsAndLimit.json": "QueryDataResponse.lastPage.json",
    "RetrieveDataRequest.json": "RetrieveDataResponse.json",
    "WriteDataRequest.insert.json": "WriteDataResponse.success.json",
    "WriteDataRequest.upsert.json": "WriteDataResponse.success.json",
    "WriteDataRequest.delete.json": "WriteDataResponse.partialFailure.json",
}  # fmt: skip
FAILS_ON_PURPOSE = {"ValidateConnectorRuntimeSettingsRequest.invalid.json", "WriteDataRequest.delete.json"}


def api_value(record: dict, api_name: str) -> Any:
    """The value at a dotted API path (`address.city`) of a source record; None when absent."""
    value: Any = record
    for part in api_name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def repoint(event: dict, api_url: str, arn: str) -> dict:
    """A recorded AppFlow event aimed at the reference API: its entity, fields, ids, URL and secret."""
    writing = event.get("type") == "WriteDataRequest"
    fields = WRITE_FIELDS if writing else READ_FIELDS
    text = json.dumps(event)
    text = text.replace("https://mytenant.acme-helpdesk.example", api_url)
    text = re.sub(r"arn:aws:secretsmanager:[^\"]+", arn, text)
    text = re.sub(r"T-(\d{4})", lambda m: f"pred_{m.group(1)}" if writing else f"acc_00{m.group(1)}", text)
    out = json.loads(text)
    out.get("connectorContext", {}).pop("entityDefinition", None)  # describes the Acme entity
    if out.get("entityIdentifier"):
        out["entityIdentifier"] = "predictions" if writing else "accounts"
    if out.get("entitiesPath") == "reports":
        out["entitiesPath"] = "ml"
    if out.get("selectedFieldNames"):
        out["selectedFieldNames"] = [fields.get(f, f) for f in out["selectedFieldNames"]]
    if out.get("filterExpression"):
        expr = out["filterExpression"]
        for old, new in fields.items():
            expr = re.sub(rf"\b{old}\b", new, expr)
        out["filterExpression"] = expr.replace("priority >= 3", "employees >= 3")
    if writing:
        recs = []
        for rec in out["records"]:
            d = {fields.get(k, k): v for k, v in json.loads(rec).items() if k in fields or k == "id"}
            if out["operation"] != "DELETE":
                d.update(entity_type="account", entity_id="acc_000001", score=0.5)
                d.setdefault("model", "fixture-model")
            recs.append(json.dumps(d))
        out["records"] = recs
    return out
