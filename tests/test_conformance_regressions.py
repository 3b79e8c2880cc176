"""Mismatches the conformance judge (the AWS SDKs in conformance/) found, fixed in the connectors;
each test keeps one from coming back without Java."""

from __future__ import annotations

import json

from appflow_connector.handler import lambda_handler as appflow_handler


def test_every_write_result_carries_a_record_id():
    """AppFlow's Java model (WriteRecordResult) requires recordId, in a failed result too."""
    event = {"type": "WriteDataRequest", "entityIdentifier": "predictions", "operation": "UPSERT",
             "idFieldNames": ["id"], "allOrNone": True,
             "records": [json.dumps({"id": "pred_1", "model": "m"}), json.dumps({"bogus": 1}), "not json"],
             "connectorContext": {"apiVersion": "v1", "connectorRuntimeSettings": {"instanceUrl": "http://127.0.0.1:9"},
                                  "credentials": {"secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
                                                  "authenticationType": "ApiKey"}}}  # fmt: skip
    response = appflow_handler(event, None)
    results = response["writeRecordResults"]
    assert [(r["isSuccess"], r["recordId"]) for r in results] == [(False, "pred_1"), (False, ""), (False, "")]
    assert all(r["errorMessage"] for r in results)
