"""Structured logs (queryId, request type) and per-invocation metrics with aws-lambda-powertools."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "saasbridge-athena"
logger = Logger(service=SERVICE, level=os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "saasbridge"), service=SERVICE)


def publish(
    request_type: str, counters: object, client_stats: list[dict], query_id: str | None = None
) -> dict[str, float]:
    """Record one invocation's metrics and flush them (EMF on stdout, with the Athena query id
    as a property, so a query's API requests can be summed); returns what was sent."""
    values = {
        "ApiRequests": sum(s.get("requests", 0) for s in client_stats),
        "ApiRetries": sum(s.get("retries", 0) for s in client_stats),
        "ApiThrottled": sum(s.get("throttled", 0) for s in client_stats),
        "ApiBytes": sum(s.get("bytes", 0) for s in client_stats),
        "RowsRead": getattr(counters, "rows_read", 0),
        "RowsReturned": getattr(counters, "rows_returned", 0),
        "BytesReturned": getattr(counters, "bytes_returned", 0),
        "SpilledBlocks": getattr(counters, "spilled_blocks", 0),
        "ValuesNulled": getattr(counters, "values_nulled", 0),  # wrongly typed API values (schema drift)
    }
    units = {"ApiBytes": MetricUnit.Bytes, "BytesReturned": MetricUnit.Bytes}
    metrics.add_dimension(name="RequestType", value=request_type)
    if query_id:
        metrics.add_metadata(key="queryId", value=query_id)
    for name, value in values.items():
        metrics.add_metric(name=name, unit=units.get(name, MetricUnit.Count), value=value)
    metrics.flush_metrics()
    return values
