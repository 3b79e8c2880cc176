"""The local SQL engine: Athena's part, played against a connector through the JSON protocol.

`Engine(EngineOptions(...)).execute(sql) -> QueryResult` (`.table`, `.stats`, `.explain()`);
`run_sql(engine, sql)` also answers SHOW SCHEMAS, SHOW TABLES [IN schema] and DESCRIBE.
"""

from __future__ import annotations

from saasbridge.local.engine.engine import Engine, EngineOptions, QueryResult, QueryStats
from saasbridge.local.engine.statements import run_sql
from saasbridge.local.engine.transport import (
    Boto3Transport,
    InProcessTransport,
    LambdaInvokeError,
    Transport,
)

__all__ = [
    "Boto3Transport",
    "Engine",
    "EngineOptions",
    "InProcessTransport",
    "LambdaInvokeError",
    "QueryResult",
    "QueryStats",
    "Transport",
    "run_sql",
]
