"""saasbridge: a SaaS REST API as Athena tables and AppFlow entities, from one catalog.

Importing this package is cheap: the Lambda handlers import it. Notebook helpers such as
`saasbridge.sql` load the local engine only when first used.
"""

from __future__ import annotations

from typing import Any

from saasbridge.version import __version__ as __version__


def __getattr__(name: str) -> Any:
    if name == "sql":
        from saasbridge.local.engine_api import sql

        return sql
    raise AttributeError(f"module 'saasbridge' has no attribute {name!r}")
