"""The AppFlow events the Java judge sends to the connector, with what each answer must hold.

Two sets: every request fixture of tests/fixtures/appflow (re-pointed at the reference API as
tests/test_appflow_fixtures.py does), and a live flow whose expectations come from the reference
API's own rows (read from its database), not from the connector.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.cases import APPFLOW_FIXTURES, FAILS_ON_PURPOSE, PAIRS, api_value, repoint
from demo_saas.store import dump_records
from saasbridge.catalog import load_catalog
from saasbridge.runtime import catalog_path

TENANT = "acme"
# AppFlow FieldDataType per catalog kind (the Java SDK's enum names)
FIELD_TYPES = {"string": "String", "int32": "Integer", "int64": "Long", "double": "Double", "decimal": "BigDecimal",
               "boolean": "Boolean", "timestamp": "DateTime", "date": "Date", "list": "List", "struct": "Struct",
               "map": "Map"}


def _context(api_url: str, secret_arn: str) -> dict:
    return {"apiVersion": "v1", "connectorRuntimeSettings": {"instanceUrl": api_url},
            "credentials": {"secretArn": secret_arn, "authenticationType": "ApiKey"}}


def fixture_cases(api_url: str, secret_arn: str) -> list[dict]:
    cases = []
    for name in sorted(PAIRS):
        raw = json.loads((APPFLOW_FIXTURES / "requests" / name).read_text())
        event = repoint(raw, api_url, secret_arn)
        case: dict[str, Any] = {"name": f"fixture {name}", "fixture": raw, "request": event,
                                "expect": {"isSuccess": name not in FAILS_ON_PURPOSE}}
        if event.get("nextToken"):  # a token only this connector can issue: the previous page gives one
            if event.get("filterExpression"):
                event["filterExpression"] = "updated_at between 2000-01-01T00:00:00.000Z and 2100-01-01T00:00:00.000Z"
            first = dict(event, nextToken=None)
            first["maxResult" if event["type"] == "ListEntitiesRequest" else "maxResults"] = 2
            case["tokenFrom"] = first
        cases.append(case)
    return cases


def live_cases(api_url: str, secret_arn: str, bad_secret_arn: str, db_path: Path) -> list[dict]:
    cat = load_catalog(catalog_path())
    ctx = _context(api_url, secret_arn)
    truth = {e.name: [{f.name: api_value(r, f.api_name) for f in e.fields} for r in dump_records(db_path, TENANT, e.name)]
             for e in cat.entities}
    grouped = {"predictions": "ml"}  # as conformance.launch's catalog groups it
    cases: list[dict] = [
        {"name": "live configuration", "request": {"type": "DescribeConnectorConfigurationRequest", "locale": "en-US"},
         "expect": {"isSuccess": True, "runtimeSettingKeys": ["instanceUrl"]}},
        {"name": "live credentials valid",
         "request": {"type": "ValidateCredentialsRequest", "connectorRuntimeSettings": {"instanceUrl": api_url},
                     "credentials": {"secretArn": secret_arn, "authenticationType": "ApiKey"}},
         "expect": {"isSuccess": True}},
        {"name": "live credentials rejected",
         "request": {"type": "ValidateCredentialsRequest", "connectorRuntimeSettings": {"instanceUrl": api_url},
                     "credentials": {"secretArn": bad_secret_arn, "authenticationType": "ApiKey"}},
         "expect": {"isSuccess": False, "errorCode": "InvalidCredentials"}},
        {"name": "live entities root", "request": {"type": "ListEntitiesRequest", "maxResult": 2, "connectorContext": ctx},
         "pageAll": True,
         "expect": {"isSuccess": True, "entities": sorted({grouped.get(e.name, e.name) for e in cat.entities})}},
        {"name": "live entities nested",
         "request": {"type": "ListEntitiesRequest", "entitiesPath": "ml", "connectorContext": ctx},
         "expect": {"isSuccess": True, "entities": ["predictions"]}},
    ]
    for e in cat.entities:
        cases.append({"name": f"live describe {e.name}",
                      "request": {"type": "DescribeEntityRequest", "entityIdentifier": e.name, "connectorContext": ctx},
                      "expect": {"isSuccess": True, "fieldTypes": {f.name: FIELD_TYPES[f.type.kind] for f in e.fields}}})
        cases.append({"name": f"live query {e.name} all pages",
                      "request": {"type": "QueryDataRequest", "entityIdentifier": e.name, "maxResults": 37,
                                  "connectorContext": ctx}, "pageAll": True,
                      "expect": {"isSuccess": True, "records": truth[e.name]}})
    accounts = truth["accounts"]
    picked = [r for r in accounts if r["country"] in ("DE", "FR") and (r["employees"] or 0) > 50]
    ids = [r["id"] for r in accounts[3:9:2]]
    cases += [
        {"name": "live query filtered and projected",
         "request": {"type": "QueryDataRequest", "entityIdentifier": "accounts", "maxResults": 7,
                     "selectedFieldNames": ["id", "country"],
                     "filterExpression": "country in ('DE', 'FR') and employees > 50", "connectorContext": ctx},
         "pageAll": True,
         "expect": {"isSuccess": True, "records": [{"id": r["id"], "country": r["country"]} for r in picked]}},
        {"name": "live retrieve",
         "request": {"type": "RetrieveDataRequest", "entityIdentifier": "accounts", "idFieldName": "id", "ids": ids,
                     "connectorContext": ctx},
         "expect": {"isSuccess": True, "records": [r for r in accounts if r["id"] in ids]}},
        {"name": "live error unknown entity",
         "request": {"type": "QueryDataRequest", "entityIdentifier": "no_such_entity", "connectorContext": ctx},
         "expect": {"isSuccess": False}},
        {"name": "live error invalid filter",
         "request": {"type": "QueryDataRequest", "entityIdentifier": "accounts", "filterExpression": "updated_at > ",
                     "connectorContext": ctx},
         "expect": {"isSuccess": False, "errorCode": "InvalidArgument"}},
        {"name": "live write with a partial failure",
         "request": {"type": "WriteDataRequest", "entityIdentifier": "predictions", "operation": "INSERT",
                     "allOrNone": False, "connectorContext": ctx, "records": [
                         json.dumps({"entity_type": "account", "entity_id": "acc_000001", "model": "conf", "score": 0.25}),
                         json.dumps({"entity_type": "account", "entity_id": "acc_000002", "bogus_field": 1}),
                         json.dumps({"entity_type": "account", "entity_id": "acc_000003", "model": "conf", "score": 0.75}),
                     ]},
         "expect": {"isSuccess": False, "errorCode": "PartialWriteFailure", "writeResults": [True, False, True]}},
    ]
    return cases


def write(out: Path, api_url: str, secret_arn: str, bad_secret_arn: str, db_path: Path) -> None:
    """cases.json: the live flow (its reads before its write), then the fixture cases (which write too)."""
    out.mkdir(parents=True, exist_ok=True)
    cases = live_cases(api_url, secret_arn, bad_secret_arn, db_path) + fixture_cases(api_url, secret_arn)
    (out / "cases.json").write_text(json.dumps(cases, indent=1))
