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
   until a response has none. Throttling, transient errors and stalled tokens are the AppFlow
   driver's (`saasbridge.drivers.appflow`).

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

from saasbridge.drivers import appflow_profile as profile
from saasbridge.drivers.appflow import AppFlowSession, FlowRunError, open_session, runtime_settings
from saasbridge.drivers.lambda_invoker import InProcessInvoker, Invoker, encode
from saasbridge.errors import ConfigError
from saasbridge.local.flow_runner import incremental
from saasbridge.local.flow_runner.destination import Destination, open_destination
from saasbridge.local.flow_runner.training import DEFAULT_VALIDATION_FRACTION, TrainingSink, check_training
from saasbridge.local.flow_runner.typing_ import Column, columns_of
from saasbridge.local.flow_runner.writers import FORMATS, RotatingSink
from saasbridge.progress import Progress

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
    invoker: Invoker | None = None  # default: the AppFlow handler in this process
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


@dataclass
class _Plan:
    """What one run asks for: the entity's definition, the fields it requests and writes, its filter."""

    definition: dict
    selected: list[str]  # the output's fields
    requested: list[str]  # what QueryData asks for: selected + what incremental/training need
    run: incremental.IncrementalRun | None
    expression: str | None
    state_rel: str


@dataclass
class _Sinks:
    """Where a run's records go: the flow's data files and, with --for-training, the training set."""

    data: RotatingSink
    training: TrainingSink | None

    def write(self, records: list[dict], texts: list[str], plan: _Plan) -> None:
        if plan.requested != plan.selected:
            out = [{n: r.get(n) for n in plan.selected} for r in records]
            self.data.write([encode(r).decode() for r in out], out)
        else:
            self.data.write(texts, records)
        if self.training is not None:
            self.training.write(records, texts)

    def abort(self) -> None:
        self.data.abort()
        if self.training is not None:
            self.training.abort()


def _check_options(opts: ExtractOptions) -> str:
    """The flow name, after checking the options that need no connector."""
    if opts.format not in FORMATS:
        raise ConfigError(f"--format {opts.format!r}: use one of {', '.join(FORMATS)}")
    if opts.max_results < 1:
        raise ConfigError("--max-results must be at least 1")
    flow = opts.flow_name or f"saasbridge-{opts.entity}"
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]{0,255}", flow):
        raise ConfigError(f"--flow-name {flow!r}: use letters, digits, '-', '_' or '.'")
    return flow


def _open_source(invoker: Invoker, opts: ExtractOptions, flow: str, execution_id: str) -> AppFlowSession:
    session = open_session(
        invoker, runtime_settings(opts.api_url, opts.page_size),
        secret_arn=opts.secret_arn, profile_name=opts.profile_name,
    )  # fmt: skip
    if "SOURCE" not in (session.configuration.get("connectorModes") or []):
        raise FlowRunError("the connector cannot be a flow source (connectorModes lacks SOURCE)")
    session.flow_name, session.execution_id = flow, execution_id
    return session


def _selected_fields(opts: ExtractOptions, names: list[str]) -> list[str]:
    selected = list(dict.fromkeys(opts.fields)) if opts.fields else names
    unknown = [n for n in selected if n not in names]
    if unknown:
        raise ConfigError(f"--fields: {', '.join(unknown)} not in {opts.entity} (fields: {', '.join(names)})")
    return selected


def _incremental_run(
    opts: ExtractOptions, columns: list[Column], pk: str | None, destination: Destination, state_rel: str
) -> incremental.IncrementalRun:
    inc = next((c for c in columns if c.is_incremental), None)
    if inc is None:
        raise ConfigError(f"{opts.entity} has no incremental timestamp field; run without --incremental")
    state = incremental.FlowState.load(destination.read_text(state_rel), opts.entity, inc.name)
    if opts.lookback_seconds is not None:
        state.lookback_seconds = opts.lookback_seconds
    return incremental.IncrementalRun(state, inc, pk, opts.clock())


def _plan(session: AppFlowSession, opts: ExtractOptions, destination: Destination, flow: str) -> _Plan:
    """DescribeEntity, then the fields, the incremental window and the filter this run sends."""
    definition = session.describe_entity(opts.entity)
    all_columns = columns_of(definition)
    selected = _selected_fields(opts, [c.name for c in all_columns])
    pk = next((c.name for c in all_columns if c.is_primary_key), None)
    requested = list(selected)
    state_rel = f"{flow}/{incremental.STATE_FILE}"
    run = None
    if opts.incremental:
        run = _incremental_run(opts, all_columns, pk, destination, state_rel)
        requested += [n for n in (pk, run.column.name) if n and n not in requested]  # for exactly-once
    if opts.for_training:
        check_training(all_columns, opts.for_training, opts.entity, fmt=opts.training_format,
                       validation_fraction=opts.validation_fraction)
        requested += [n for n in (opts.for_training, pk) if n and n not in requested]
    expression = combine(opts.where, run.window_expression() if run else None)
    return _Plan(definition, selected, requested, run, expression, state_rel)


def _open_sinks(destination: Destination, opts: ExtractOptions, plan: _Plan, flow: str, execution_id: str) -> _Sinks:
    data = RotatingSink(
        destination, f"{flow}/{execution_id}", opts.format, columns_of(plan.definition, plan.selected),
        opts.rows_per_file,
    )  # fmt: skip
    training = None
    if opts.for_training:
        training = TrainingSink(
            destination, f"{flow}/_training/{execution_id}", columns_of(plan.definition, plan.requested),
            opts.for_training, fmt=opts.training_format, validation_fraction=opts.validation_fraction,
        )  # fmt: skip
    return _Sinks(data, training)


def _copy(session: AppFlowSession, opts: ExtractOptions, plan: _Plan, sinks: _Sinks) -> int:
    """Every page of the entity into the sinks (records the incremental state already delivered
    left out); returns the records delivered. A failure removes what the sinks staged."""
    progress = Progress(f"{opts.entity} → {opts.to}", enabled=opts.progress)
    delivered = 0
    try:
        for page in session.pages(opts.entity, plan.expression, plan.requested, max_results=opts.max_results):
            kept = [
                (record, text)
                for record, text in zip(page.records, page.texts, strict=True)
                if plan.run is None or plan.run.admit(record, text)
            ]
            if kept:
                sinks.write([r for r, _ in kept], [t for _, t in kept], plan)
                delivered += len(kept)
            progress.update(records=delivered)
        sinks.data.close()
    except BaseException:
        sinks.abort()
        raise
    finally:
        progress.close()
    return delivered


def api_request_counts(invoker: Invoker) -> dict[int, int] | None:
    """SaaS API requests made so far per live connector client, when the connector runs in this
    process (a remote one's clients are out of sight)."""
    if not isinstance(invoker, InProcessInvoker):
        return None
    from appflow_connector import session

    return {id(client): client.stats.requests for client in list(session._clients.values())}


def _requests_since(invoker: Invoker, before: dict[int, int] | None) -> int | None:
    after = api_request_counts(invoker)
    if after is None or before is None:
        return None
    return sum(n - before.get(key, 0) for key, n in after.items())  # per client: the connector may swap clients


def run_extract(opts: ExtractOptions) -> ExtractResult:
    flow = _check_options(opts)
    started = time.monotonic()
    invoker = opts.invoker or InProcessInvoker("appflow")
    invocations_before = invoker.invocations
    execution_id = str(uuid.uuid4())
    destination = open_destination(opts.to)
    try:
        session = _open_source(invoker, opts, flow, execution_id)
        plan = _plan(session, opts, destination, flow)
        sinks = _open_sinks(destination, opts, plan, flow, execution_id)
        requests_before = api_request_counts(invoker)
        delivered = _copy(session, opts, plan, sinks)
        result = ExtractResult(
            opts.entity, flow, execution_id, delivered, sinks.data.files, sinks.data.bytes,
            invoker.invocations - invocations_before, _requests_since(invoker, requests_before),
            session.retries, 0.0, plan.expression,
        )  # fmt: skip
        if sinks.training is not None:
            result.training = sinks.training.close()
            result.training_manifest_uri = sinks.training.manifest_uri
        if plan.run is not None:
            destination.write_text(plan.state_rel, plan.run.next_state(execution_id).dumps())
            result.state_uri = destination.uri(plan.state_rel)
            result.skipped_already_delivered = plan.run.skipped
        result.seconds = time.monotonic() - started
        return result
    finally:
        destination.close()
