"""Helpers several test modules share: values compared by meaning, secrets on
the moto server, SQL three-valued evaluation of the IR, predictions read back from the SaaS."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

import boto3
import requests

from saasbridge.query import ir

_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def norm(value: Any) -> Any:
    """Values compared by meaning: numbers exactly (Decimal), instants as UTC datetimes, dates as
    ISO text, maps as dicts, absent == null."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        if _TS.match(value):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)
        return value if value != "" else None
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):  # Arrow map
            return {k: norm(v) for k, v in value if v is not None}
        return [norm(v) for v in value]
    return value


def put_secret(name: str, value: dict, moto_url: str | None = None) -> str:
    """Create (or overwrite) a Secrets Manager secret and return its ARN; on the moto server at
    `moto_url`, else where the environment (`aws_env`) points boto3."""
    if moto_url is None:
        client = boto3.client("secretsmanager")
    else:
        client = boto3.client("secretsmanager", endpoint_url=moto_url, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        return client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=json.dumps(value))
        return client.describe_secret(SecretId=name)["ARN"]


def eval_ir(expr, row):
    """SQL three-valued evaluation of an IR expression on a dict row (True/False/None)."""
    if isinstance(expr, ir.Const):
        return expr.value
    if isinstance(expr, ir.And):
        vals = [eval_ir(i, row) for i in expr.items]
        return False if False in vals else (None if None in vals else True)
    if isinstance(expr, ir.Or):
        vals = [eval_ir(i, row) for i in expr.items]
        return True if True in vals else (None if None in vals else False)
    if isinstance(expr, ir.Not):
        v = eval_ir(expr.item, row)
        return None if v is None else not v
    v = row[expr.column]
    if isinstance(expr, ir.IsNull):
        return (v is None) != expr.negate
    if v is None:
        return None
    if isinstance(expr, ir.Compare):
        return {"eq": v == expr.value, "ne": v != expr.value, "lt": v < expr.value, "le": v <= expr.value,
                "gt": v > expr.value, "ge": v >= expr.value}[expr.op]
    if isinstance(expr, ir.InList):
        return (v in expr.values) != expr.negate
    if isinstance(expr, ir.Between):
        return expr.low <= v <= expr.high
    raise AssertionError(expr)


def reset_connectors() -> None:
    """Both connectors forget their warm-container state: runtime, clients, rate limiters, discovered
    properties and the secrets they read (a fresh container, for a test that changed the environment)."""
    from appflow_connector import session
    from athena_connector.handler import reset_container
    from saasbridge.client import properties, ratelimit
    from saasbridge.client.credentials import clear_secret_cache

    reset_container()
    session.reset()
    session._clients.clear()
    ratelimit._shared.clear()
    properties.clear_cache()
    clear_secret_cache()


def written(api, model: str) -> dict[str, dict]:
    """Every prediction of `model`, by row id, read back through the reference API (none twice)."""
    out: dict[str, dict] = {}
    cursor = None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{api.url}/v1/predictions", params=params, timeout=30,
                            headers={"Authorization": "Bearer demo-acme-key"}).json()  # fmt: skip
        for p in page["data"]:
            if p["model"] == model:
                assert p["entity_id"] not in out, "a row was predicted twice"
                out[p["entity_id"]] = p
        cursor = page.get("next_cursor")
        if not cursor:
            return out


def appflow_query(instance_url: str, secret_arn: str, entity: str, *, expression: str | None = None,
                  fields: list[str] | None = None, token: str | None = None, max_results: int = 1000) -> dict:
    """One QueryData call to the in-process AppFlow handler, with an API-key secret, as AppFlow sends it."""
    from appflow_connector.handler import lambda_handler

    return lambda_handler({
        "type": "QueryDataRequest", "entityIdentifier": entity, "selectedFieldNames": fields,
        "filterExpression": expression, "maxResults": max_results, "nextToken": token,
        "connectorContext": {"apiVersion": "v1", "connectorRuntimeSettings": {"instanceUrl": instance_url},
                             "credentials": {"secretArn": secret_arn, "authenticationType": "ApiKey"}}}, None)


def appflow_records(instance_url: str, secret_arn: str, entity: str, **kwargs: Any) -> list[dict]:
    """Every record of a QueryData listing, following nextToken as AppFlow does (decimals exact)."""
    token, records = None, []
    for _ in range(1000):
        response = appflow_query(instance_url, secret_arn, entity, token=token, **kwargs)
        assert response["isSuccess"], response["errorDetails"]
        records += [json.loads(r, parse_float=Decimal) for r in response["records"]]
        token = response["nextToken"]
        if not token:
            return records
    raise AssertionError("QueryData never ended")
