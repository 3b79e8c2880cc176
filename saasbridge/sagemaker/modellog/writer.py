"""Writes model-log records through the catalog's write operations, only when they changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from saasbridge.client.client import SaasClient
from saasbridge.errors import SaasBridgeError

ENTITIES = ("models", "model_versions", "deployments", "ml_jobs", "approvals")


class ModelLogWriteError(SaasBridgeError):
    """The SaaS refused a model-log write."""


class ModelLogWriter:
    """Compare-then-write: a new record is created with `upsert` (PUT on its ARN-derived id), an
    existing one gets an `update` (PATCH) of exactly the fields that differ, so fields the SaaS
    owns (documentation, test data, a reviewer's decision) are never overwritten.

    `written` counts the records written per entity; an unchanged asset writes nothing."""

    def __init__(self, client: SaasClient):
        self.client = client
        self.catalog = client.catalog
        self.written: Counter[str] = Counter()
        self.created: dict[str, list[str]] = {}  # entity → ids of the records this writer created
        self._known: dict[str, dict[str, dict]] = {}  # entity → id → record, as the SaaS holds it
        self._complete: set[str] = set()  # entities whose every record is in `_known`

    def current(self, entity: str, record_id: str) -> dict | None:
        """The SaaS's record (cached after the first read)."""
        known = self._known.setdefault(entity, {})
        if record_id not in known and entity not in self._complete:
            found = self.client.get(self.catalog.entity(entity), record_id)
            if found is None:
                return None
            known[record_id] = found
        return known.get(record_id)

    def refresh(self, entity: str, record_id: str) -> dict | None:
        """The SaaS's record read again (someone else may have changed it)."""
        self._known.setdefault(entity, {}).pop(record_id, None)
        self._complete.discard(entity)
        return self.current(entity, record_id)

    def all_records(self, entity: str) -> dict[str, dict]:
        """Every record of the entity (read once)."""
        if entity not in self._complete:
            spec = self.catalog.entity(entity)
            known = self._known.setdefault(entity, {})
            for page in self.client.list_pages(spec, {}, page_size=1000):
                known.update({r["id"]: r for r in page.records})
            self._complete.add(entity)
        return self._known[entity]

    def put(self, entity: str, record: dict[str, Any]) -> bool:
        """Make the SaaS hold `record`'s fields; True when something was written."""
        old = self.current(entity, record["id"])
        if old is None:
            self._write(entity, "upsert", record)
            self._known.setdefault(entity, {})[record["id"]] = dict(record)
            self.created.setdefault(entity, []).append(record["id"])
            return True
        changes = {k: v for k, v in record.items() if k != "id" and old.get(k) != v}
        if not changes:
            return False
        self._write(entity, "update", {"id": record["id"], **changes})
        old.update(changes)
        return True

    def mark_deleted(self, entity: str, present_arns: Iterable[str], scope: str) -> list[str]:
        """Mark deleted every record of `entity` under the ARN prefix `scope` whose ARN SageMaker no
        longer lists; their ids."""
        present = set(present_arns)
        gone = [
            r["id"] for r in self.all_records(entity).values()
            if not r.get("deleted") and str(r.get("arn")).startswith(scope) and r.get("arn") not in present
        ]
        for record_id in gone:
            self.put(entity, {"id": record_id, "deleted": True})
        return gone

    def _write(self, entity: str, op: str, record: dict) -> None:
        (result,) = self.client.write(self.catalog.entity(entity), op, [record])
        if not result.ok:
            raise ModelLogWriteError(f"the SaaS refused {op} of {entity} {record['id']}: {result.error}")
        self.written[entity] += 1
