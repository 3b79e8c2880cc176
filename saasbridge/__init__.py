"""saasbridge: a SaaS REST API as Athena tables and AppFlow entities, from one catalog.

The package façade, above every layer (docs/architecture.md): the notebook helper `saasbridge.sql`
loads the local engine when first used, so no module in a layer imports the bare `saasbridge`.
Importing it stays cheap, since Python runs it before any `saasbridge.x` (the handlers' too).
"""

from __future__ import annotations

from typing import Any

from saasbridge.version import __version__ as __version__


def __getattr__(name: str) -> Any:
    if name == "sql":
        from saasbridge.local.engine_api import sql

        return sql
    raise AttributeError(f"module 'saasbridge' has no attribute {name!r}")
