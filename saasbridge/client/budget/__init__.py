"""One rate budget per API and credential, behind a small interface (`Budget`): the in-process
token bucket (the default, and the fallback) or a DynamoDB bucket every process shares, chosen by
`rate_limit.shared.table` in the catalog or `SAASBRIDGE_BUDGET_TABLE`."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from saasbridge.catalog.model import RateBudget
from saasbridge.client.budget.base import Budget
from saasbridge.client.budget.local import Clock, TokenBucket

TABLE_ENV = "SAASBRIDGE_BUDGET_TABLE"

__all__ = ["TABLE_ENV", "Budget", "TokenBucket", "budget_table", "make_budget"]


def budget_table(budget: RateBudget, env: Mapping[str, str] | None = None) -> str | None:
    """The shared table's name: `SAASBRIDGE_BUDGET_TABLE`, else the catalog's; None = in-process."""
    env = os.environ if env is None else env
    return env.get(TABLE_ENV) or budget.shared.table or None


def make_budget(
    budget: RateBudget, *, catalog: str | None, identity: str, table: str | None, clock: Clock = time.monotonic
) -> Budget:
    """The shared DynamoDB bucket of (catalog, credential) when a table is named, else an in-process one."""
    if table and catalog:
        from saasbridge.client.budget.dynamodb import BucketTable, DynamoBudget, tenant_key

        bucket = BucketTable(table, tenant_key(catalog, identity))
        return DynamoBudget(bucket, budget.requests_per_second, budget.burst, budget.shared, clock=clock)
    return TokenBucket(budget.requests_per_second, budget.burst, clock=clock)
