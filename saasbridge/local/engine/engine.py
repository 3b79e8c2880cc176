"""The local engine: plays Athena's part against a connector, through the JSON protocol only.

It plans each table reference (columns, pushed constraints, limit) and runs the statement in
DuckDB (Arrow, zero copy); the request sequence itself (GetTable, capabilities, layout, splits,
ReadRecords in parallel, spilled blocks) is the Athena driver's (`saasbridge.drivers.athena`).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from athena_connector import protocol
from saasbridge.drivers import athena
from saasbridge.drivers.lambda_invoker import InProcessInvoker, Invoker, InvokeResult
from saasbridge.errors import QueryError
from saasbridge.local.engine import analysis, metrics
from saasbridge.local.engine.domains import Domain, to_value_set

ORDER_DIRECTIONS = {
    (False, False): "ASC_NULLS_LAST",
    (False, True): "ASC_NULLS_FIRST",
    (True, False): "DESC_NULLS_LAST",
    (True, True): "DESC_NULLS_FIRST",
}


@dataclass
class EngineOptions:
    catalog_name: str = "saas"  # the Athena data source name (first part of "saas"."crm"."accounts")
    function: str = "athena"  # the connector's function name, for the default in-process invoker
    invoker: Invoker | None = None  # default: the handler in this process
    parallelism: int = 4  # concurrent ReadRecords calls
    max_block_size: int = athena.DEFAULT_MAX_BLOCK_SIZE
    max_inline_block_size: int = athena.DEFAULT_MAX_INLINE_BLOCK_SIZE
    default_schema: str | None = None  # for unqualified table names; default: the only schema
    s3_endpoint_url: str | None = None  # default: boto3's own (AWS_ENDPOINT_URL[_S3])


@dataclass
class QueryStats:
    splits: int = 0
    lambda_calls: int = 0
    api_requests: int | None = None  # as the connector reported them; None = not reported
    rows_from_api: int | None = None  # as the connector reported them
    rows_from_connector: int = 0  # rows that came back over the protocol
    rows_returned: int = 0
    spilled_blocks: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_call(self, result: InvokeResult) -> None:
        found = metrics.emf_metrics(result.log_tail)
        requests = metrics.first_of(found, metrics.API_REQUEST_METRICS)
        rows = metrics.first_of(found, metrics.API_ROW_METRICS)
        with self._lock:
            self.lambda_calls += 1
            if requests is not None:
                self.api_requests = (self.api_requests or 0) + requests
            if rows is not None:
                self.rows_from_api = (self.rows_from_api or 0) + rows

    def record_spilled(self, blocks: int) -> None:
        with self._lock:
            self.spilled_blocks += blocks

    def line(self) -> str:
        requests = "?" if self.api_requests is None else f"{self.api_requests:,}"
        from_api = self.rows_from_connector if self.rows_from_api is None else self.rows_from_api
        spilled = f", {self.spilled_blocks} spilled blocks" if self.spilled_blocks else ""
        return (
            f"{self.splits} splits, {self.lambda_calls} Lambda calls, {requests} API requests, "
            f"{from_api:,} rows from the API, {self.rows_returned:,} rows returned{spilled}, {self.seconds:.2f} s"
        )


@dataclass
class ScanPlan:
    """What the engine asked the connector for one table reference."""

    ref: analysis.TableRef
    schema_name: str
    table_schema: pa.Schema
    partition_columns: list[str]
    projection: pa.Schema
    constraints: dict
    splits: list[dict] = field(default_factory=list)
    partitions: dict | None = None

    def describe(self) -> list[str]:
        ref = self.ref
        lines = [f"{self.schema_name}.{ref.table} AS {ref.alias}"]
        lines.append(f"  columns: {', '.join(self.projection.names) or '(none: row count only)'}")
        domains = ref.domains
        pushed = [describe_domain(c, d) for c, d in domains.items() if not d.is_all]
        lines.append(f"  constraints: {'; '.join(pushed) if pushed else '(none)'}")
        if not ref.exact_filter:
            lines.append("  residual filter: the rest of the WHERE clause runs in the engine")
        if ref.limit is not None:
            order = ", ".join(f"{c} {'DESC' if d else 'ASC'}" for c, d, _ in ref.order_by)
            lines.append(f"  limit pushed: {ref.limit}" + (f" ordered by {order}" if order else ""))
        lines.append(f"  splits: {len(self.splits)}")
        return lines

    @property
    def scan(self) -> athena.TableScan:
        return athena.TableScan(
            self.schema_name, self.ref.table, self.table_schema, self.partition_columns, self.constraints
        )


@dataclass
class QueryResult:
    table: pa.Table
    stats: QueryStats
    plans: list[ScanPlan]
    sql: str  # what ran in DuckDB

    def explain(self) -> list[str]:
        out: list[str] = []
        for plan in self.plans:
            out.extend(plan.describe())
        out.append(f"engine SQL: {self.sql}")
        return out


class Engine:
    """Runs Athena SQL against a connector. One instance pings each function once."""

    def __init__(self, options: EngineOptions | None = None, **kwargs: Any):
        self.options = options or EngineOptions(**kwargs)
        self.invoker: Invoker = self.options.invoker or InProcessInvoker(self.options.function)
        self.driver = athena.AthenaDriver(
            self.invoker, self.options.catalog_name, max_block_size=self.options.max_block_size,
            max_inline_block_size=self.options.max_inline_block_size, s3_endpoint_url=self.options.s3_endpoint_url,
        )  # fmt: skip

    def session(self, stats: QueryStats) -> athena.Session:
        return self.driver.session(stats)

    # ------------------------------------------------------------ catalog

    def list_schemas(self, stats: QueryStats | None = None) -> list[str]:
        stats = stats or QueryStats()
        return self.driver.list_schemas(self.session(stats), stats)

    def list_tables(
        self, schema: str | None = None, stats: QueryStats | None = None
    ) -> list[tuple[str, str]]:
        stats = stats or QueryStats()
        s = self.session(stats)
        return self.driver.list_tables(s, schema or self._default_schema(stats), stats)

    def get_table(
        self, schema: str, table: str, stats: QueryStats | None = None
    ) -> tuple[pa.Schema, list[str]]:
        stats = stats or QueryStats()
        return self.driver.get_table(self.session(stats), schema, table, stats)

    def _default_schema(self, stats: QueryStats) -> str:
        if self.options.default_schema:
            return self.options.default_schema
        schemas = self.list_schemas(stats)
        if len(schemas) != 1:
            raise QueryError(f"qualify the table with its schema ({', '.join(schemas)}), e.g. crm.accounts")
        self.options.default_schema = schemas[0]
        return schemas[0]

    # ------------------------------------------------------------ queries

    def execute(self, sql: str, *, explain_only: bool = False) -> QueryResult:
        started = time.monotonic()
        stats = QueryStats()
        from saasbridge.local.engine.external_functions import split_using

        functions, sql = split_using(sql)  # Athena ML: USING EXTERNAL FUNCTION … SAGEMAKER '…' SELECT …
        stmt = analysis.parse(sql, [f.name for f in functions])
        s = self.session(stats)
        tables: dict[tuple[str, str], tuple[pa.Schema, list[str]]] = {}
        schema_names: dict[int, str] = {}
        for ref in stmt.refs:
            if ref.catalog and ref.catalog.lower() != self.options.catalog_name.lower():
                raise QueryError(
                    f"unknown data source {ref.catalog!r}; this engine serves {self.options.catalog_name!r}"
                )
            schema_name = (ref.schema or self._default_schema(stats)).lower()
            schema_names[ref.index] = schema_name
            key = (schema_name, ref.table)
            if key not in tables:
                tables[key] = self.get_table(schema_name, ref.table, stats)
        analysis.analyse(stmt, {r.index: tables[(schema_names[r.index], r.table)][0] for r in stmt.refs})
        caps = self.driver.capabilities(s, stats) if stmt.refs else athena.Capabilities({})
        plans = [
            self._plan_scan(
                s, ref, schema_names[ref.index], *tables[(schema_names[ref.index], ref.table)], caps, stats
            )
            for ref in stmt.refs
        ]
        for plan in plans:
            self._layout_and_splits(s, plan, stats)
        stats.splits = sum(len(p.splits) for p in plans)
        duck_sql = stmt.duckdb_sql()
        if explain_only:
            stats.seconds = time.monotonic() - started
            return QueryResult(pa.table({}), stats, plans, duck_sql)
        data = self._read_all(s, plans, stats)
        table = _run_duckdb(duck_sql, {p.ref.view: data[p.ref.index] for p in plans}, functions)
        stats.rows_returned = table.num_rows
        stats.seconds = time.monotonic() - started
        return QueryResult(table, stats, plans, duck_sql)

    def _plan_scan(
        self,
        s: athena.Session,
        ref: analysis.TableRef,
        schema_name: str,
        table_schema: pa.Schema,
        partition_columns: list[str],
        caps: athena.Capabilities,
        stats: QueryStats,
    ) -> ScanPlan:
        projection = pa.schema([f for f in table_schema if f.name in ref.columns])
        summary = {
            col: to_value_set(dom, table_schema.field(col).type)
            for col, dom in ref.domains.items()
            if not dom.is_all
        }
        limit, order = None, ()
        if ref.limit is not None and s.serde_version >= 4:
            if ref.order_by and caps.top_n_pushdown:
                limit = ref.limit
                order = tuple(protocol.OrderByField(c, ORDER_DIRECTIONS[(d, nf)]) for c, d, nf in ref.order_by)
            elif not ref.order_by and caps.limit_pushdown:
                limit = ref.limit
        if limit is None:
            ref.limit, ref.order_by = None, ()
        cons = protocol.build_constraints(summary, limit=limit, order_by=order, version=s.serde_version)
        return ScanPlan(ref, schema_name, table_schema, partition_columns, projection, cons)

    def _layout_and_splits(self, s: athena.Session, plan: ScanPlan, stats: QueryStats) -> None:
        plan.partitions, plan.splits = self.driver.layout_and_splits(s, plan.scan, stats)

    def _read_all(self, s: athena.Session, plans: list[ScanPlan], stats: QueryStats) -> dict[int, pa.Table]:
        jobs = [(plan, split) for plan in plans for split in plan.splits]

        def read(job: tuple[ScanPlan, dict]) -> list[pa.RecordBatch]:
            plan, split = job
            batches = self.driver.read_split(s, plan.scan, plan.projection, split, stats)
            return [_conform(b, plan.projection) for b in batches]

        with ThreadPoolExecutor(max_workers=max(1, self.options.parallelism)) as pool:
            results = list(pool.map(read, jobs))
        out: dict[int, list[pa.RecordBatch]] = {p.ref.index: [] for p in plans}
        for (plan, _), batches in zip(jobs, results, strict=True):
            out[plan.ref.index].extend(batches)
        tables = {}
        for plan in plans:
            batches = out[plan.ref.index]
            table = (
                pa.Table.from_batches(batches, schema=plan.projection)
                if batches
                else plan.projection.empty_table()
            )
            stats.rows_from_connector += table.num_rows
            tables[plan.ref.index] = _for_duckdb(table, plan.projection.names)
        return tables


def _conform(batch: pa.RecordBatch, projection: pa.Schema) -> pa.RecordBatch:
    """The batch with exactly the requested columns, in order, or a clear protocol error."""
    if batch.schema.names == projection.names:
        if batch.schema.equals(projection):
            return batch
        return pa.RecordBatch.from_arrays(batch.columns, schema=projection)
    if batch.num_columns == 0 and batch.num_rows == 0:
        return projection.empty_table().to_batches()[0] if projection.names else batch
    missing = [n for n in projection.names if n not in batch.schema.names]
    if missing:
        raise QueryError(f"the connector's ReadRecords answer lacks requested columns {missing}")
    return pa.RecordBatch.from_arrays([batch.column(n) for n in projection.names], schema=projection)


def _for_duckdb(table: pa.Table, names: list[str]) -> pa.Table:
    """Athena's TIMESTAMP travels as date64 (epoch millis); DuckDB must see a timestamp."""
    columns = []
    fields = []
    for f, col in zip(table.schema, table.columns, strict=True):
        if pa.types.is_date64(f.type):
            col = pa.chunked_array(
                [chunk.view(pa.int64()).cast(pa.timestamp("ms")) for chunk in col.chunks], pa.timestamp("ms")
            )
            f = pa.field(f.name, pa.timestamp("ms"), f.nullable)
        columns.append(col)
        fields.append(f)
    if not names:
        # No column needed (e.g. count(*)): keep the row count with a placeholder column.
        return pa.table({"__rows": pa.nulls(table.num_rows, pa.bool_())})
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _run_duckdb(sql: str, views: dict[str, pa.Table], functions: list | None = None) -> pa.Table:
    import duckdb

    con = duckdb.connect()
    try:
        for name, table in views.items():
            con.register(name, table)
        if functions:
            from saasbridge.local.engine import external_functions

            external_functions.register(con, functions, external_functions.runtime_client())
        try:
            return con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            raise QueryError(f"query failed in the engine: {message}") from exc
    finally:
        con.close()


def describe_domain(column: str, domain: Domain) -> str:
    """A domain as readable SQL (`country IN ('DE', 'FR')`, `employees > 10`)."""
    parts = []
    points = [r.low.value for r in domain.ranges if r.low and r.high and r.low == r.high]
    if points and len(points) == len(domain.ranges):
        parts.append(
            f"{column} = {_lit(points[0])}"
            if len(points) == 1
            else f"{column} IN ({', '.join(_lit(p) for p in points)})"
        )
    else:
        for r in domain.ranges:
            if r.low is None and r.high is None:
                parts.append(f"{column} IS NOT NULL")
                continue
            sub = []
            if r.low is not None:
                sub.append(f"{column} {'>=' if r.low.inclusive else '>'} {_lit(r.low.value)}")
            if r.high is not None:
                sub.append(f"{column} {'<=' if r.high.inclusive else '<'} {_lit(r.high.value)}")
            parts.append(" AND ".join(sub))
    if domain.null_allowed:
        parts.append(f"{column} IS NULL")
    if not parts:
        return f"{column}: no value matches"
    return " OR ".join(parts) if len(parts) > 1 else parts[0]


def _lit(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)
