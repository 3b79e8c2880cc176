"""The local SQL engine: Athena's part, played against a connector through the JSON protocol.

`Engine(EngineOptions(...)).execute(sql) -> QueryResult` (`.table`, `.stats`, `.explain()`);
`run_sql(engine, sql)` also answers SHOW SCHEMAS, SHOW TABLES [IN schema] and DESCRIBE.
"""

from __future__ import annotations

from saasbridge.drivers.lambda_invoker import EndpointInvoker, InProcessInvoker, InvokeError, Invoker
from saasbridge.local.engine.engine import Engine, EngineOptions, QueryResult, QueryStats
from saasbridge.local.engine.statements import run_sql

__all__ = [
    "EndpointInvoker",
    "Engine",
    "EngineOptions",
    "InProcessInvoker",
    "InvokeError",
    "Invoker",
    "QueryResult",
    "QueryStats",
    "run_sql",
]
