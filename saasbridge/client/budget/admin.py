"""Create the budget table and read back what it holds (for `saasbridge budget`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saasbridge.client.budget.dynamodb import (
    BUCKET_SK,
    COUNT_SK,
    TTL_ATTRIBUTE,
    USAGE_SK,
    BucketState,
    dynamodb_client,
    item_number,
)


def create_table(name: str, *, client: Any = None) -> bool:
    """Create the table (on-demand, TTL on old counters); False when it already exists."""
    client = client or dynamodb_client()
    try:
        client.create_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            BillingMode="PAY_PER_REQUEST",
        )
        created = True
    except client.exceptions.ResourceInUseException:
        created = False
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )
    return created


@dataclass(frozen=True)
class Usage:
    """What one Athena query or AppFlow flow run spent."""

    kind: str  # "athena" or "appflow"
    run_id: str  # query id or execution id
    requests: int
    retries: int
    throttled: int
    invocations: int
    first_at: int
    updated_at: int

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Usage:
        def n(name: str) -> int:
            return int(item_number(item, name))

        return cls(
            kind=item.get("kind", {}).get("S", ""), run_id=item.get("run_id", {}).get("S", ""),
            requests=n("requests"), retries=n("retries"), throttled=n("throttled"),
            invocations=n("invocations"), first_at=n("first_at"), updated_at=n("updated_at"),
        )  # fmt: skip


@dataclass
class Tenant:
    """What the table holds for one catalog and credential."""

    bucket: BucketState | None
    counts: dict[str, int]  # "day#2026-11-28" / "hour#2026-11-28T03" -> requests counted
    usage: list[Usage]  # newest first


def read_tenant(table: str, pk: str, *, client: Any = None) -> Tenant:
    """The tenant's bucket, request counts and usage records."""
    client = client or dynamodb_client()
    bucket: BucketState | None = None
    counts: dict[str, int] = {}
    usage: list[Usage] = []
    paginator = client.get_paginator("query")
    for page in paginator.paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    ):
        for item in page.get("Items", []):
            sk = item["sk"]["S"]
            if sk == BUCKET_SK:
                bucket = BucketState.from_item(item)
            elif sk.startswith(COUNT_SK):
                counts[sk[len(COUNT_SK):]] = int(item_number(item, "used"))
            elif sk.startswith(USAGE_SK):
                usage.append(Usage.from_item(item))
    usage.sort(key=lambda u: u.updated_at, reverse=True)
    return Tenant(bucket, counts, usage)
