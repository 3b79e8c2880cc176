"""The reference SaaS API: a real HTTP server (FastAPI + uvicorn) on a real SQLite database.

`dump_records` reads the database directly and is the ground truth for tests. Importing this
package does not import FastAPI (see `demo_saas.app`).
"""

from __future__ import annotations

from demo_saas.data import TENANTS
from demo_saas.entities import ENTITIES, ENTITY_NAMES
from demo_saas.store import dump_records

__all__ = ["ENTITIES", "ENTITY_NAMES", "TENANTS", "dump_records"]
