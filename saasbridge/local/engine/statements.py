"""Statements besides SELECT: SHOW SCHEMAS, SHOW TABLES [IN schema], DESCRIBE schema.table."""

from __future__ import annotations

import re
import time

import pyarrow as pa

from saasbridge.local.engine.engine import Engine, QueryResult, QueryStats

_SHOW_SCHEMAS = re.compile(r"^\s*SHOW\s+(SCHEMAS|DATABASES)\s*;?\s*$", re.I)
_SHOW_TABLES = re.compile(r"^\s*SHOW\s+TABLES(?:\s+(?:IN|FROM)\s+(?P<schema>[\w\".]+))?\s*;?\s*$", re.I)
_DESCRIBE = re.compile(r"^\s*(?:DESCRIBE|DESC)\s+(?P<name>[\w\".]+)\s*;?\s*$", re.I)


def _ident(text: str) -> list[str]:
    return [p.strip('"').lower() for p in text.split(".")]


# Leaf types by equality; Athena TIMESTAMP travels as date64 (see athena_connector/protocol/values).
_SQL_NAMES: dict[pa.DataType, str] = {
    pa.date64(): "timestamp",
    pa.date32(): "date",
    pa.string(): "varchar",
    pa.bool_(): "boolean",
    pa.int8(): "tinyint",
    pa.int16(): "smallint",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.float32(): "real",
    pa.float64(): "double",
}


def sql_type(t: pa.DataType) -> str:
    """The Athena SQL type of an Arrow type as the connector sends it."""
    if t in _SQL_NAMES:
        return _SQL_NAMES[t]
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp"
    if pa.types.is_list(t):
        return f"array({sql_type(t.value_type)})"
    if pa.types.is_map(t):
        return f"map({sql_type(t.key_type)}, {sql_type(t.item_type)})"
    if pa.types.is_struct(t):
        return "row(" + ", ".join(f"{f.name} {sql_type(f.type)}" for f in t) + ")"
    return str(t)


def run_sql(engine: Engine, sql: str, *, explain_only: bool = False) -> QueryResult:
    """Run any supported statement: SHOW / DESCRIBE here, everything else as a query."""
    started = time.monotonic()
    stats = QueryStats()
    table: pa.Table | None = None
    if _SHOW_SCHEMAS.match(sql):
        table = pa.table({"database_name": engine.list_schemas(stats)})
    elif m := _SHOW_TABLES.match(sql):
        schema = _ident(m["schema"])[-1] if m["schema"] else None
        table = pa.table({"tab_name": [t for _, t in engine.list_tables(schema, stats)]})
    elif m := _DESCRIBE.match(sql):
        parts = _ident(m["name"])
        schema = parts[-2] if len(parts) >= 2 else engine._default_schema(stats)
        arrow_schema, partitions = engine.get_table(schema, parts[-1], stats)
        table = pa.table(
            {
                "col_name": arrow_schema.names,
                "data_type": [sql_type(f.type) for f in arrow_schema],
                "comment": ["partition key" if f.name in partitions else "" for f in arrow_schema],
            }
        )
    if table is None:
        return engine.execute(sql, explain_only=explain_only)
    stats.rows_returned = table.num_rows
    stats.seconds = time.monotonic() - started
    return QueryResult(table, stats, [], sql.strip())
