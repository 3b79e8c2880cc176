"""The connectors' one logger and one metrics emitter (aws-lambda-powertools: JSON log lines and
CloudWatch embedded-metric-format records), and the one way an invocation reports its usage."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from saasbridge.client.stats import UsageMeter

NAMESPACE = "saasbridge"
# metric name → Usage field; both connectors emit these for every invocation
USAGE_METRICS = {"ApiRequests": "requests", "ApiRetries": "retries", "ApiThrottled": "throttled", "ApiBytes": "bytes"}
BYTE_METRICS = frozenset({"ApiBytes", "BytesReturned"})


def in_lambda(context: Any = None) -> bool:
    """Running as a Lambda function: in AWS, or invoked by a stand-in with a Lambda context."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or getattr(context, "function_name", None))


class _LogStream:
    """stdout in Lambda (its log); stderr elsewhere, so a local command keeps its stdout (the local
    Lambda stand-in captures both). Looked up per write: the stand-in swaps the streams."""

    def write(self, text: str) -> int:
        return (sys.stdout if in_lambda() else sys.stderr).write(text)

    def flush(self) -> None:
        (sys.stdout if in_lambda() else sys.stderr).flush()


_stream = _LogStream()
logger = Logger(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", "saasbridge"),
    level=os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO" if in_lambda() else "WARNING"),
    stream=_stream,
)
_metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE))
_metrics_lock = threading.Lock()  # Powertools keeps one metric set per process


def report(
    connector: str,
    request_type: str,
    meter: UsageMeter,
    *,
    run_id: tuple[str, str | None],
    context: Any = None,
    counters: Mapping[str, int] | None = None,
) -> dict[str, float]:
    """Report one invocation: its usage goes to the run's record in the shared budget table (when
    there is a run id and a client) and, with the connector's own `counters`, into one EMF record on
    stdout (dimensions service and RequestType, the run id as a property) when running as a Lambda
    function (`context`); a handler called directly by a local command leaves that command's stdout
    alone. Returns the metric values."""
    id_name, id_value = run_id
    if id_value and meter.clients:  # an invocation's clients share one budget (the container's)
        meter.clients[0].record_usage(connector, id_value, meter.usage)
    usage = meter.usage.as_dict()
    values = {name: float(usage[field]) for name, field in USAGE_METRICS.items()}
    values.update((name, float(value)) for name, value in (counters or {}).items())
    if not in_lambda(context):
        return values
    with _metrics_lock:
        _metrics.add_dimension(name="service", value=f"saasbridge-{connector}")
        _metrics.add_dimension(name="RequestType", value=request_type)
        if id_value:
            _metrics.add_metadata(key=id_name, value=id_value)
        for name, value in values.items():
            _metrics.add_metric(name=name, unit=MetricUnit.Bytes if name in BYTE_METRICS else MetricUnit.Count,
                                value=value)
        record = _metrics.serialize_metric_set()
        _metrics.clear_metrics()
    print(json.dumps(record, separators=(",", ":")), flush=True)
    return values
