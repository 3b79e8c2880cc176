"""Per-call API usage of the AppFlow connector: EMF metrics (in Lambda) and the flow run's usage
record in the shared budget table, keyed by AppFlow's executionId."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

SERVICE = "saasbridge-appflow"
_metrics: Any = None


def publish(request_type: str, execution_id: str | None, usage: Mapping[str, int], budget: Any) -> None:
    """Record one call's requests, retries and 429s: EMF on stdout when running in Lambda (a local
    run in this process keeps its stdout for the command), and in the budget's usage record."""
    if execution_id:
        budget.record_usage("appflow", execution_id, usage)
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = _emf()
    metrics.add_dimension(name="RequestType", value=request_type)
    if execution_id:
        metrics.add_metadata(key="executionId", value=execution_id)
    for name, key in (("ApiRequests", "requests"), ("ApiRetries", "retries"), ("ApiThrottled", "throttled")):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=usage.get(key, 0))
    metrics.flush_metrics()


def _emf() -> Any:
    global _metrics
    if _metrics is None:
        from aws_lambda_powertools import Metrics

        _metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "saasbridge"), service=SERVICE)
    return _metrics
