"""The reference SaaS API: a real HTTP server (FastAPI + uvicorn) on a real SQLite database.

`dump_records` reads the database directly and is the ground truth for tests. Importing this
package does not import FastAPI (see `demo_saas.app`).
"""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use, so `demo_saas.server` (the command line's options) imports nothing heavy.
_EXPORTS = {"ENTITIES": "entities", "ENTITY_NAMES": "entities", "TENANTS": "data", "dump_records": "store"}
__all__ = ["ENTITIES", "ENTITY_NAMES", "TENANTS", "dump_records"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'demo_saas' has no attribute {name!r}")
    return getattr(importlib.import_module(f"demo_saas.{_EXPORTS[name]}"), name)
