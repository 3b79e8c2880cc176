"""The connector's own metrics, read from its log output (CloudWatch embedded metric format),
which is how the engine learns how many API requests a Lambda call made."""

from __future__ import annotations

import orjson

API_REQUEST_METRICS = ("ApiRequests", "api_requests", "SaasApiRequests")
API_ROW_METRICS = ("RowsRead", "ApiRows", "RowsFromApi")


def emf_metrics(log: str | None) -> dict[str, float]:
    """Sum of every EMF metric value in `log`, by metric name."""
    totals: dict[str, float] = {}
    for line in (log or "").splitlines():
        start = line.find("{")
        if start < 0 or '"_aws"' not in line:
            continue
        try:
            doc = orjson.loads(line[start:])
        except orjson.JSONDecodeError:
            continue
        if not isinstance(doc, dict):
            continue
        for directive in doc.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive.get("Metrics", []):
                name = metric.get("Name")
                value = doc.get(name)
                if isinstance(value, list):
                    value = sum(v for v in value if isinstance(v, (int, float)))
                if isinstance(value, (int, float)):
                    totals[name] = totals.get(name, 0) + value
    return totals


def first_of(metrics: dict[str, float], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in metrics:
            return int(metrics[name])
    return None
