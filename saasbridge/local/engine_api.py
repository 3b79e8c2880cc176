"""`saasbridge.sql(...)`: the local engine for notebooks. Returns an Arrow table
(`.to_pandas()` gives a DataFrame); the statistics of the last query are in `last_stats()`."""

from __future__ import annotations

import pyarrow as pa

from saasbridge.drivers.lambda_invoker import invoker_for
from saasbridge.local.engine import Engine, EngineOptions, QueryStats, run_sql

_LAST: dict[str, QueryStats] = {}


def make_engine(
    *,
    function_name: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    catalog_name: str = "saas",
    parallelism: int = 4,
    max_inline_block_size: int | None = None,
) -> Engine:
    """An engine on the invoker the options name: a deployed Lambda (`function_name` +
    `region`), the local invoke endpoint (`endpoint_url`), or in-process (neither)."""
    options = EngineOptions(catalog_name=catalog_name, parallelism=parallelism)
    if max_inline_block_size is not None:
        options.max_inline_block_size = max_inline_block_size
    options.invoker = invoker_for("athena", function_name=function_name, region=region, endpoint_url=endpoint_url)
    return Engine(options)


def sql(query: str, *, engine: Engine | None = None, **options: object) -> pa.Table:
    """Run one statement (SELECT, SHOW SCHEMAS, SHOW TABLES, DESCRIBE) and return its rows.

    Options as `make_engine` (function_name, region, endpoint_url, catalog_name, parallelism)."""
    result = run_sql(engine or make_engine(**options), query)  # type: ignore[arg-type]
    _LAST["stats"] = result.stats
    return result.table


def last_stats() -> QueryStats | None:
    """Statistics of the last `sql(...)` call in this process."""
    return _LAST.get("stats")
