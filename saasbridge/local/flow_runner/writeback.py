"""A flow run with the connector as destination (S3 → connector): rows from a CSV, Parquet or JSON
Lines file (local or s3://) go to a writable entity through `WriteDataRequest`s of `batch_size`
records, with the profile and DescribeEntity calls of extract.py first. Every record's result is
kept: failures are reported one per row, never dropped.

Input typing: Parquet and JSON Lines values are used as they are; CSV cells (text) are typed by the
entity's DescribeEntity types, an empty cell is null.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from saasbridge.drivers import appflow_profile as profile
from saasbridge.drivers.appflow import FlowRunError, format_instant, open_session, runtime_settings
from saasbridge.drivers.lambda_invoker import InProcessInvoker, Invoker
from saasbridge.errors import ConfigError
from saasbridge.local.flow_runner.destination import read_source_bytes
from saasbridge.progress import Progress

OPERATIONS = ("insert", "upsert", "update", "delete")


@dataclass
class WritebackOptions:
    entity: str
    source: str
    operation: str = "insert"  # AppFlow's default write operation
    batch_size: int = 100
    columns: list[str] | None = None
    invoker: Invoker | None = None  # default: the AppFlow handler in this process
    secret_arn: str | None = None
    profile_name: str = profile.DEFAULT_PROFILE
    api_url: str | None = None
    progress: bool | None = None


@dataclass
class RowFailure:
    row: int  # 1-based row of the input
    record_id: str | None
    message: str


@dataclass
class WritebackResult:
    entity: str
    operation: str
    rows: int
    succeeded: int
    failures: list[RowFailure] = field(default_factory=list)
    batches: int = 0
    invocations: int = 0
    retries: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"wrote {self.succeeded} of {self.rows} rows to {self.entity} ({self.operation.upper()}), "
            f"{len(self.failures)} failed, {self.batches} batches, {self.invocations} connector calls, "
            f"{self.seconds:.1f} s"
        )


# ---------------------------------------------------------------- reading the input


def _plain(value: Any) -> Any:
    """A value from Parquet/Arrow → what the JSON record carries."""
    if isinstance(value, dt.datetime):
        return format_instant(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): _plain(v) for k, v in value}
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return value


def _typed_cell(text: str, data_type: str, column: str, row: int) -> Any:
    if text == "":
        return None
    try:
        if data_type in ("Integer", "Short", "Long", "BigInteger"):
            return int(text)
        if data_type in ("Float", "Double"):
            return float(text)
        if data_type == "BigDecimal":
            return Decimal(text)
        if data_type == "Boolean":
            lowered = text.strip().lower()
            if lowered in ("true", "1"):
                return True
            if lowered in ("false", "0"):
                return False
            raise ValueError
        if data_type in ("Struct", "Map", "List"):
            return json.loads(text, parse_float=Decimal)
    except (ValueError, InvalidOperation, json.JSONDecodeError):
        raise ConfigError(f"row {row}, column {column}: {text[:40]!r} is not a {data_type} value") from None
    return text


def read_rows(name: str, data: bytes, types: dict[str, str]) -> list[dict]:
    """Rows of a CSV (with header), Parquet or JSON Lines input, chosen by the file extension."""
    lower = name.lower()
    if lower.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(pa.BufferReader(data))
        except (pa.ArrowInvalid, OSError) as exc:
            raise ConfigError(f"--from {name}: not a readable Parquet file ({str(exc)[:100]})") from None
        return [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        rows = []
        for i, line in enumerate(data.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line, parse_float=Decimal)
            except json.JSONDecodeError:
                raise ConfigError(f"--from {name}: line {i} is not JSON") from None
            if not isinstance(value, dict):
                raise ConfigError(f"--from {name}: line {i} is not a JSON object")
            rows.append(value)
        return rows
    if lower.endswith(".csv"):
        import csv

        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
        rows = []
        for i, raw in enumerate(reader, start=2):
            if None in raw:
                raise ConfigError(f"--from {name}: row {i} has more cells than the header")
            rows.append({k: _typed_cell(v or "", types.get(k, "String"), k, i) for k, v in raw.items()})
        return rows
    raise ConfigError(f"--from {name}: unknown file type; use .csv, .parquet or .jsonl")


# ---------------------------------------------------------------- the run


def run_writeback(opts: WritebackOptions) -> WritebackResult:
    op = opts.operation.lower()
    if op not in OPERATIONS:
        raise ConfigError(f"--operation {opts.operation!r}: use one of {', '.join(OPERATIONS)}")
    if opts.batch_size < 1:
        raise ConfigError("--batch-size must be at least 1")
    started = time.monotonic()
    name, data = read_source_bytes(opts.source)
    invoker = opts.invoker or InProcessInvoker("appflow")
    invocations_before = invoker.invocations
    session = open_session(
        invoker, runtime_settings(opts.api_url), secret_arn=opts.secret_arn, profile_name=opts.profile_name
    )
    configuration = session.configuration
    if "DESTINATION" not in (configuration.get("connectorModes") or []):
        raise FlowRunError("the connector cannot be a flow destination (connectorModes lacks DESTINATION)")
    if op.upper() not in (configuration.get("supportedWriteOperations") or []):
        raise ConfigError(
            f"--operation {op}: the connector supports {configuration.get('supportedWriteOperations')}"
        )
    definition = session.describe_entity(opts.entity)
    if not (definition.get("entity") or {}).get("isWritable"):
        raise ConfigError(f"{opts.entity} is not writable; choose a writable entity")
    fields = {f["fieldName"]: f for f in definition.get("fields") or []}
    pk = next((n for n, f in fields.items() if f.get("isPrimaryKey")), None)
    rows = read_rows(name, data, {n: f.get("dataType", "String") for n, f in fields.items()})
    if opts.columns:
        rows = [{c: row.get(c) for c in opts.columns} for row in rows]
    extra = sorted({k for row in rows for k in row} - set(fields))
    if extra:
        raise ConfigError(
            f"columns not in {opts.entity}: {', '.join(extra)}; pick the entity's columns with --columns "
            f"(fields: {', '.join(fields)})"
        )
    records = [{k: v for k, v in row.items() if v is not None or op != "insert"} for row in rows]
    result = WritebackResult(opts.entity, op, len(rows), 0)
    progress = Progress(f"{opts.source} → {opts.entity}", enabled=opts.progress, total=len(rows))
    try:
        outcomes = session.write(
            opts.entity, op.upper(), records, id_field_names=[pk] if op != "insert" and pk else None,
            batch_size=opts.batch_size, on_batch=lambda sent: progress.update(records=sent),
        )  # fmt: skip
    finally:
        progress.close()
    result.batches = -(-len(rows) // opts.batch_size)
    for outcome in outcomes:
        if outcome.error is None:
            result.succeeded += 1
            continue
        rid = outcome.record_id or (rows[outcome.index].get(pk) if pk else None)
        result.failures.append(RowFailure(outcome.index + 1, None if rid is None else str(rid), outcome.error))
    result.invocations = invoker.invocations - invocations_before
    result.retries = session.retries
    result.seconds = time.monotonic() - started
    return result
