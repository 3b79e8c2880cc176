"""A flow run with the connector as source: the events AppFlow sends, in its order.

1. `DescribeConnectorConfigurationRequest`: what registering the connector sends. AppFlow caches
   it; the runner has no registry, so every run asks (and checks the connector can be a SOURCE
   and which authentication type the profile uses).
2. Only when the runner creates or changes the profile's secret (that is, creates the connection
   profile): `ValidateCredentialsRequest`, then `ValidateConnectorRuntimeSettingsRequest` with
   scope CONNECTOR_PROFILE. A run on an unchanged profile sends neither, as AppFlow does.
3. `DescribeEntityRequest` (flow creation; its definition is passed back as
   `connectorContext.entityDefinition` on record calls).
4. `QueryDataRequest` with `selectedFieldNames` (the projection), `filterExpression` (the
   `--where` filter AND the incremental window) and `maxResults`, repeated with each `nextToken`
   until a response has none. Throttling and transient errors are retried (protocol.py).

Output: `<to>/<flow name>/<execution id>/part-00000.<ext>`, … as AppFlow lays out its S3 output,
the incremental state at `<to>/<flow name>/_saasbridge_state.json` and, with `--for-training`,
the dataset at `<to>/<flow name>/_training/<execution id>/`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from saasbridge.errors import ConfigError
from saasbridge.local.flow_runner import incremental, profile
from saasbridge.local.flow_runner.destination import open_destination
from saasbridge.local.flow_runner.progress import Progress
from saasbridge.local.flow_runner.protocol import ConnectorSession, FlowRunError
from saasbridge.local.flow_runner.training import DEFAULT_VALIDATION_FRACTION, TrainingSink, check_training
from saasbridge.local.flow_runner.transport import InProcessTransport, Transport
from saasbridge.local.flow_runner.typing_ import columns_of, parse_record
from saasbridge.local.flow_runner.writers import FORMATS, RotatingSink

MAX_STALLED_CALLS = 25  # identical empty pages in a row before a run is declared stuck
_LIMIT = re.compile(r"^(?P<body>.*?)\s*\b(?:limit|LIMIT)\s+(?P<count>\d+)\s*$", re.DOTALL)


@dataclass
class ExtractOptions:
    entity: str
    to: str
    incremental: bool = False
    where: str | None = None
    fields: list[str] | None = None
    format: str = "parquet"
    for_training: str | None = None
    training_format: str = "csv"
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    flow_name: str | None = None
    transport: Transport | None = None  # default: in process
    secret_arn: str | None = None  # an existing profile secret; default: create one from SAASBRIDGE_*
    profile_name: str = profile.DEFAULT_PROFILE
    api_url: str | None = None  # the instanceUrl runtime setting (default: the connector's own)
    page_size: int | None = None  # the pageSize runtime setting (records per API request)
    max_results: int = 1000
    rows_per_file: int = 100_000
    lookback_seconds: float | None = None
    progress: bool | None = None
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))


@dataclass
class ExtractResult:
    entity: str
    flow_name: str
    execution_id: str
    records: int
    files: list[str]
    bytes: int
    invocations: int
    api_requests: int | None
    retries: int
    seconds: float
    expression: str | None
    skipped_already_delivered: int = 0
    state_uri: str | None = None
    training: dict | None = None
    training_manifest_uri: str | None = None

    def summary(self) -> str:
        api = (
            f"{self.api_requests} API requests"
            if self.api_requests is not None
            else "API requests n/a (remote)"
        )
        parts = [
            f"{self.records} {self.entity} records", f"{len(self.files)} files", _size(self.bytes), api,
            f"{self.invocations} connector calls", f"{self.seconds:.1f} s",
        ]  # fmt: skip
        if self.skipped_already_delivered:
            parts.append(f"{self.skipped_already_delivered} already delivered skipped")
        where = self.files[0].rsplit("/", 1)[0] + "/" if self.files else "(no files)"
        text = f"extracted {', '.join(parts)} → {where}"
        if self.training:
            rows = self.training["rows"]
            text += f"; training: {rows['train']} train / {rows['validation']} validation rows"
        return text


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def split_limit(where: str | None) -> tuple[str | None, int | None]:
    """`expr limit N` → (expr, N); the limit must stay last when the window is AND-ed in."""
    if not where or not where.strip():
        return None, None
    m = _LIMIT.match(where.strip())
    if not m:
        return where.strip(), None
    return (m.group("body").strip() or None), int(m.group("count"))


def combine(where: str | None, window: str | None) -> str | None:
    body, limit = split_limit(where)
    parts = [p for p in (f"({body})" if body and window else body, window) if p]
    expression = " and ".join(parts) if parts else None
    if limit is not None:
        expression = f"{expression} limit {limit}" if expression else f"limit {limit}"
    return expression


def open_profile(
    transport: Transport, settings: dict[str, str], *, secret_arn: str | None, profile_name: str
) -> ConnectorSession:
    """DescribeConnectorConfiguration, the profile secret, and (for a new profile) its validation."""
    probe = ConnectorSession(
        transport, secret_arn="", authentication_type="ApiKey", runtime_settings=settings
    )
    configuration = probe.describe_connector_configuration()
    auth_type = profile.authentication_type(configuration)
    if secret_arn:
        arn, created = secret_arn, False
    else:
        values = profile.secret_values(auth_type)
        arn, created = profile.ensure_secret(profile.SECRET_NAME.format(profile=profile_name), values)
        if created and isinstance(transport, InProcessTransport):
            from saasbridge.client.credentials import clear_secret_cache

            clear_secret_cache()  # the in-process connector caches secrets like a warm Lambda
    versions = configuration.get("supportedApiVersions") or [None]
    session = ConnectorSession(
        transport, secret_arn=arn, authentication_type=auth_type, runtime_settings=settings,
        api_version=versions[0],
    )  # fmt: skip
    session.configuration = configuration  # type: ignore[attr-defined]
    session.retries += probe.retries
    if created:
        session.validate_credentials()
        session.validate_runtime_settings("CONNECTOR_PROFILE")
    return session


def runtime_settings(api_url: str | None, page_size: int | None) -> dict[str, str]:
    import os

    settings = {}
    url = api_url or os.environ.get("SAASBRIDGE_API_URL")
    if url:
        settings["instanceUrl"] = url
    if page_size:
        settings["pageSize"] = str(page_size)
    return settings


def run_extract(opts: ExtractOptions) -> ExtractResult:
    if opts.format not in FORMATS:
        raise ConfigError(f"--format {opts.format!r}: use one of {', '.join(FORMATS)}")
    if opts.max_results < 1:
        raise ConfigError("--max-results must be at least 1")
    started = time.monotonic()
    transport = opts.transport or InProcessTransport()
    invocations_before = transport.invocations
    flow = opts.flow_name or f"saasbridge-{opts.entity}"
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]{0,255}", flow):
        raise ConfigError(f"--flow-name {flow!r}: use letters, digits, '-', '_' or '.'")
    execution_id = str(uuid.uuid4())
    destination = open_destination(opts.to)
    try:
        session = open_profile(
            transport, runtime_settings(opts.api_url, opts.page_size),
            secret_arn=opts.secret_arn, profile_name=opts.profile_name,
        )  # fmt: skip
        if "SOURCE" not in (session.configuration.get("connectorModes") or []):  # type: ignore[attr-defined]
            raise FlowRunError("the connector cannot be a flow source (connectorModes lacks SOURCE)")
        session.flow_name, session.execution_id = flow, execution_id
        definition = session.describe_entity(opts.entity)
        all_columns = columns_of(definition)
        names = [c.name for c in all_columns]
        selected = list(dict.fromkeys(opts.fields)) if opts.fields else names
        unknown = [n for n in selected if n not in names]
        if unknown:
            raise ConfigError(
                f"--fields: {', '.join(unknown)} not in {opts.entity} (fields: {', '.join(names)})"
            )
        pk = next((c.name for c in all_columns if c.is_primary_key), None)

        run: incremental.IncrementalRun | None = None
        state_rel = f"{flow}/{incremental.STATE_FILE}"
        requested = list(selected)
        if opts.incremental:
            inc = next((c for c in all_columns if c.is_incremental), None)
            if inc is None:
                raise ConfigError(
                    f"{opts.entity} has no incremental timestamp field; run without --incremental"
                )
            state = incremental.FlowState.load(destination.read_text(state_rel), opts.entity, inc.name)
            if opts.lookback_seconds is not None:
                state.lookback_seconds = opts.lookback_seconds
            run = incremental.IncrementalRun(state, inc, pk, opts.clock())
            requested += [n for n in (pk, inc.name) if n and n not in requested]  # for exactly-once
        if opts.for_training:
            check_training(all_columns, opts.for_training, opts.entity, fmt=opts.training_format,
                           validation_fraction=opts.validation_fraction)
            requested += [n for n in (opts.for_training, pk) if n and n not in requested]
        expression = combine(opts.where, run.window_expression() if run else None)

        out_columns = columns_of(definition, selected)
        sink = RotatingSink(
            destination, f"{flow}/{execution_id}", opts.format, out_columns, opts.rows_per_file
        )
        training = None
        if opts.for_training:
            training = TrainingSink(
                destination, f"{flow}/_training/{execution_id}", columns_of(definition, requested),
                opts.for_training, fmt=opts.training_format, validation_fraction=opts.validation_fraction,
            )  # fmt: skip
        progress = Progress(f"{opts.entity} → {opts.to}", enabled=opts.progress)
        requests_before = transport.api_request_counts()
        delivered = 0
        token: str | None = None
        stalled = 0
        project = requested != selected
        try:
            while True:
                response = session.query_data(
                    opts.entity,
                    fields=requested,
                    expression=expression,
                    max_results=opts.max_results,
                    token=token,
                )
                texts, records = [], []
                for text in response.get("records") or []:
                    record = parse_record(text)
                    if run is not None and not run.admit(record, text):
                        continue
                    texts.append(text)
                    records.append(record)
                if records:
                    out_records = [{n: r.get(n) for n in selected} for r in records] if project else records
                    out_texts = [_json(r) for r in out_records] if project else texts
                    sink.write(out_texts, out_records)
                    if training is not None:
                        training.write(records, texts)
                    delivered += len(records)
                progress.update(records=delivered)
                new_token = response.get("nextToken")
                stalled = (
                    stalled + 1 if new_token and new_token == token and not response.get("records") else 0
                )
                if stalled >= MAX_STALLED_CALLS:
                    raise FlowRunError(
                        f"QueryData returned no records and the same nextToken {stalled} times: the connector "
                        "makes no progress (its per-call time budget may be too short for one API page)"
                    )
                token = new_token
                if not token:
                    break
            sink.close()
        except BaseException:
            sink.abort()
            if training is not None:
                training.abort()
            raise
        finally:
            progress.close()
        result = ExtractResult(
            opts.entity, flow, execution_id, delivered, sink.files, sink.bytes,
            transport.invocations - invocations_before, None, session.retries, 0.0, expression,
        )  # fmt: skip
        if training is not None:
            result.training = training.close()
            result.training_manifest_uri = training.manifest_uri
        if run is not None:
            destination.write_text(state_rel, run.next_state(execution_id).dumps())
            result.state_uri = destination.uri(state_rel)
            result.skipped_already_delivered = run.skipped
        after = transport.api_request_counts()
        if after is not None and requests_before is not None:  # per client: the connector may swap clients
            result.api_requests = sum(n - requests_before.get(key, 0) for key, n in after.items())
        result.seconds = time.monotonic() - started
        return result
    finally:
        destination.close()


def _json(record: dict) -> str:
    """A record re-serialized after projection; Decimals keep their digits as JSON numbers."""
    from saasbridge.local.flow_runner.transport import encode

    return encode(record).decode()
