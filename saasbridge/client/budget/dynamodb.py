"""The shared backend: one token bucket and request quota per catalog and credential in a DynamoDB
table, used by every process (Lambda containers, local commands) that names the table.

A process takes tokens in small leases (one conditional write for several requests). A lease may
run the bucket into debt: each of its tokens carries the time it may be used, so contenders queue
in the order their writes land (fair), and the requests of all processes together keep the pace of
one bucket. A token left unused for a while after its time is dropped (a stalled process does not
hoard the budget) and reported back, with what is left at exit. Clocks: the table's time is the
latest time any process wrote; a process whose clock is behind adopts it and advances it with its
own monotonic clock, so skew costs at most one refill (capped at the burst), never a stall.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import math
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from saasbridge.catalog.model import SharedBudget
from saasbridge.client.budget.base import Budget
from saasbridge.client.budget.local import Clock, TokenBucket
from saasbridge.errors import QuotaExhaustedError

log = logging.getLogger("saasbridge.client.budget")

BUCKET_SK = "bucket"
USAGE_SK = "usage#"  # + kind + "#" + query id / flow execution id
KEEP_SECONDS = 35 * 86400  # items untouched this long expire (the table's TTL attribute)
TTL_ATTRIBUTE = "expires_at"
RETRY_TABLE_SECONDS = 30.0  # after a failure, the in-process bucket serves this long
MAX_CONFLICTS = 25
STATE_FRESH_SECONDS = 1.0  # a quota check reuses a bucket item read this recently


def default_lease(rate: float, burst: int) -> int:
    """A tenth of a second of the rate: at least 1 token, at most half the burst."""
    return max(1, min(max(1, burst // 2), math.ceil(rate / 10)))


def tenant_key(catalog: str, identity: str) -> str:
    """The partition key of a catalog and credential (`identity` is already a one-way hash)."""
    return f"{catalog}#{identity}"


@dataclass(frozen=True)
class BucketState:
    """The bucket item: tokens at table time `ts`, cumulative counters, this period's request counts."""

    tokens: float
    ts: float
    version: int = 0
    granted: int = 0  # tokens ever taken from the bucket
    returned: int = 0  # tokens given back unused (left at exit, or dropped as stale)
    day: str = ""
    day_used: int = 0
    hour: str = ""
    hour_used: int = 0

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> BucketState:
        def num(name: str, default: float = 0) -> float:
            return float(item[name]["N"]) if name in item else default

        return cls(
            tokens=num("tokens"), ts=num("ts"), version=int(num("version")), granted=int(num("granted")),
            returned=int(num("returned")), day=item.get("day", {}).get("S", ""), day_used=int(num("day_used")),
            hour=item.get("hour", {}).get("S", ""), hour_used=int(num("hour_used")),
        )  # fmt: skip

    def to_item(self, pk: str, rate: float, burst: int) -> dict[str, Any]:
        def n(value: float) -> dict[str, str]:
            return {"N": repr(round(value, 6)) if isinstance(value, float) else str(value)}

        return {
            "pk": {"S": pk}, "sk": {"S": BUCKET_SK}, "tokens": n(self.tokens), "ts": n(self.ts),
            "version": n(self.version), "granted": n(self.granted), "returned": n(self.returned),
            "day": {"S": self.day}, "day_used": n(self.day_used), "hour": {"S": self.hour},
            "hour_used": n(self.hour_used), "rate": n(float(rate)), "burst": n(burst),
            TTL_ATTRIBUTE: n(int(self.ts) + KEEP_SECONDS),
        }  # fmt: skip

    def used(self, period: str, key: str) -> int:
        """Requests counted in this period (0 when the item holds an older period)."""
        if period == "day":
            return self.day_used if self.day == key else 0
        return self.hour_used if self.hour == key else 0


def period_keys(epoch: float) -> dict[str, tuple[str, dt.datetime]]:
    """{"day": (key, resets at), "hour": (key, resets at)} in UTC."""
    now = dt.datetime.fromtimestamp(epoch, dt.UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hour = now.replace(minute=0, second=0, microsecond=0)
    return {
        "day": (day.strftime("%Y-%m-%d"), day + dt.timedelta(days=1)),
        "hour": (hour.strftime("%Y-%m-%dT%H"), hour + dt.timedelta(hours=1)),
    }


class _Conflict(Exception):
    """Another process wrote the bucket between our read and our write."""

    def __init__(self, current: BucketState | None):
        self.current = current


class BucketTable:
    """The table's bucket and usage items for one tenant: conditional reads and writes, nothing more."""

    def __init__(self, table: str, pk: str, *, client: Any = None):
        self.table = table
        self.pk = pk
        self._client = client
        self.calls = {"read": 0, "write": 0, "conflict": 0, "usage": 0}  # what the budget costs

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = dynamodb_client()
        return self._client

    def read(self) -> BucketState | None:
        self.calls["read"] += 1
        answer = self.client.get_item(
            TableName=self.table, Key=self._key(BUCKET_SK), ConsistentRead=True
        )
        item = answer.get("Item")
        return BucketState.from_item(item) if item else None

    def write(self, old: BucketState | None, new: BucketState, rate: float, burst: int) -> None:
        """Put `new` if the item is still `old` (by version); raise _Conflict with the current one."""
        if old is None:
            condition, values = "attribute_not_exists(pk)", {}
        else:
            condition, values = "version = :v", {":v": {"N": str(old.version)}}
        self.calls["write"] += 1
        try:
            self.client.put_item(
                TableName=self.table,
                Item=new.to_item(self.pk, rate, burst),
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            self.calls["conflict"] += 1
            item = getattr(exc, "response", {}).get("Item")
            raise _Conflict(BucketState.from_item(item) if item else self.read()) from None

    def add_usage(self, kind: str, run_id: str, counts: Mapping[str, int | float], now: float) -> None:
        names = {"#k": "kind", "#r": "run_id", "#u": "updated_at", "#e": TTL_ATTRIBUTE, "#f": "first_at"}
        values: dict[str, Any] = {
            ":k": {"S": kind}, ":r": {"S": run_id}, ":u": {"N": str(int(now))},
            ":e": {"N": str(int(now) + KEEP_SECONDS)}, ":one": {"N": "1"},
        }  # fmt: skip
        adds = ["invocations :one"]
        for i, (name, value) in enumerate(sorted(counts.items())):
            names[f"#c{i}"] = name
            values[f":c{i}"] = {"N": str(value)}
            adds.append(f"#c{i} :c{i}")
        self.calls["usage"] += 1
        self.client.update_item(
            TableName=self.table,
            Key=self._key(f"{USAGE_SK}{kind}#{run_id}"),
            UpdateExpression="SET #k = :k, #r = :r, #u = :u, #e = :e, #f = if_not_exists(#f, :u) ADD "
            + ", ".join(adds),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _key(self, sk: str) -> dict[str, Any]:
        return {"pk": {"S": self.pk}, "sk": {"S": sk}}


def dynamodb_client() -> Any:
    """A DynamoDB client that gives up fast (the in-process bucket takes over when it does)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
    return boto3.client("dynamodb", config=config)


class DynamoBudget(Budget):
    """The rate budget and quotas of one tenant, shared through `table` by every process."""

    def __init__(
        self,
        table: BucketTable,
        rate: float,
        burst: int,
        settings: SharedBudget,
        *,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.table = table
        self.rate = max(float(rate), 1e-6)
        self.burst = max(1, int(burst))
        self.settings = settings
        self.lease_size = settings.lease or default_lease(self.rate, self.burst)
        self.stale_after = max(self.lease_size, 2) / self.rate  # unused this long after its time: dropped
        self._clock = clock
        self._sleep = sleep
        self._offset = wall_clock() - clock()  # table time = monotonic clock + offset
        self._lock = threading.Lock()
        self._lease: deque[float] = deque()  # when each held token may be used (monotonic clock)
        self._unused = 0  # tokens dropped as stale, not yet reported to the table
        self._paused_until = 0.0
        self._state: BucketState | None = None
        self._state_read_at = -math.inf
        self._api_left: dict[str, int] = {}  # the API's own quota counts, reported at the next write
        self._fallback = TokenBucket(self.rate, self.burst, clock=clock)
        self._down_until: float | None = None
        self._warned = False
        self.local_tokens = 0  # tokens the in-process bucket handed out (table down or too contended)
        _open.add(self)

    # ---- tokens -------------------------------------------------------------------------------

    def reserve(self, max_wait: float | None = None) -> float | None:
        with self._lock:
            now = self._clock()
            if self._table_down(now):
                return self._local(max_wait)
            self._drop_stale(now)
            if not self._lease:
                try:
                    if not self._take_lease(now, max_wait):
                        return None
                except _TooContended:
                    return self._local(max_wait)
                except Exception as exc:  # noqa: BLE001 - any table failure: never fail a query for it
                    self._table_failed(exc)
                    return self._local(max_wait)
            wait = max(0.0, self._lease[0] - now, self._paused_until - now)
            if max_wait is not None and wait > max_wait:
                return None
            self._lease.popleft()
            return wait

    def _local(self, max_wait: float | None) -> float | None:
        wait = self._fallback.reserve(max_wait)
        self.local_tokens += wait is not None
        return wait

    def cap(self, tokens: float) -> None:
        with self._lock:
            keep = max(0, math.floor(tokens))
            while len(self._lease) > keep:
                self._lease.pop()
                self._unused += 1
        self._fallback.cap(tokens)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._fallback.pause(seconds)

    @property
    def tokens(self) -> float:
        with self._lock:
            return float(len(self._lease))

    def _drop_stale(self, now: float) -> None:
        while self._lease and self._lease[0] + self.stale_after < now:
            self._lease.popleft()
            self._unused += 1

    def _take_lease(self, now: float, max_wait: float | None) -> bool:
        """One conditional write for `lease_size` tokens; False (nothing taken) when the first
        would come later than `max_wait`."""
        size = self.lease_size
        taken: dict[str, float] = {}

        def lease(state: BucketState | None, table_now: float) -> BucketState | None:
            tokens = self._refilled(state, table_now)
            if max_wait is not None and (1.0 - tokens) / self.rate > max_wait:
                return None
            taken["before"] = tokens
            base = state or BucketState(tokens, table_now)
            return self._count(base, table_now, size, tokens=tokens - size, granted=base.granted + size)

        if self._commit(lease) is None:
            return False
        before = taken["before"]
        self._lease.extend(now + max(0.0, (i + 1 - before) / self.rate) for i in range(size))
        return True

    def _refilled(self, state: BucketState | None, table_now: float) -> float:
        if state is None:
            return float(self.burst)
        return min(float(self.burst), state.tokens + max(0.0, table_now - state.ts) * self.rate)

    def _count(self, base: BucketState, table_now: float, requests: int, **changes: Any) -> BucketState:
        """`base` with this period's request counts moved on by `requests` (less what was reported
        unused; the API's own counts replace ours), at table time `table_now`."""
        periods = period_keys(table_now)
        counts: dict[str, Any] = {}
        for period in ("day", "hour"):
            key = periods[period][0]
            used = base.used(period, key)
            quota = self._quota(period)
            if period in self._api_left and quota:  # the API's own count wins
                used = max(0, quota - self._api_left[period]) + requests
            else:
                used = max(0, used + requests - self._unused)
            counts[period] = key
            counts[f"{period}_used"] = used
        returned = base.returned + self._unused + changes.pop("returned_now", 0)
        return replace(base, ts=table_now, version=base.version + 1, returned=returned, **counts, **changes)

    def _commit(self, change: Callable[[BucketState | None, float], BucketState | None]) -> BucketState | None:
        """Apply `change` to the bucket item with a conditional write, again on each conflict.
        Returns the written state, or None when `change` declined."""
        state = self._state if self._state is not None else self._read()
        for attempt in range(MAX_CONFLICTS):
            table_now = self._table_now(state)
            new = change(state, table_now)
            if new is None:
                return None
            try:
                self.table.write(state, new, self.rate, self.burst)
            except _Conflict as conflict:
                state = conflict.current
                self._state = None
                self._sleep(random.uniform(0, 0.002 * (attempt + 1)))  # de-synchronise the contenders
                continue
            self._state, self._state_read_at = new, self._clock()
            self._unused = 0
            self._api_left.clear()
            return new
        raise _TooContended

    def _read(self) -> BucketState | None:
        state = self.table.read()
        self._state, self._state_read_at = state, self._clock()
        return state

    def _table_now(self, state: BucketState | None) -> float:
        now = self._clock() + self._offset
        if state is not None and state.ts > now:
            self._offset += state.ts - now  # this clock is behind the table's: adopt the table's time
            now = state.ts
        return now

    # ---- fallback -----------------------------------------------------------------------------

    def _table_down(self, now: float) -> bool:
        if self._down_until is None:
            return False
        if now < self._down_until:
            return True
        self._down_until = None  # try the table again
        self._state = None
        return False

    def _table_failed(self, exc: BaseException) -> None:
        self._down_until = self._clock() + RETRY_TABLE_SECONDS
        self._state = None
        if not self._warned:
            self._warned = True
            code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
            log.warning(
                "shared rate budget table %r is unreachable (%s); this process uses its own token bucket "
                "and tries the table again every %.0f s",
                self.table.table, code, RETRY_TABLE_SECONDS,
            )  # fmt: skip

    # ---- quotas -------------------------------------------------------------------------------

    def _quota(self, period: str) -> int | None:
        return self.settings.daily_quota if period == "day" else self.settings.hourly_quota

    def observe(self, headers: Mapping[str, str]) -> None:
        for period, name in (("day", self.settings.daily_remaining_header),
                             ("hour", self.settings.hourly_remaining_header)):  # fmt: skip
            value = headers.get(name) if name else None
            if value is not None:
                try:
                    left = int(float(value))
                except ValueError:
                    continue
                with self._lock:
                    self._api_left[period] = max(0, left)

    def admit_scan(self) -> None:
        periods = [p for p in ("day", "hour") if self._quota(p)]
        if not periods:
            return
        with self._lock:
            state = self._fresh_state()
            table_now = self._table_now(state)
            keys = period_keys(table_now)
            for period in periods:
                quota = self._quota(period) or 0
                key, resets = keys[period]
                if period in self._api_left:
                    used = max(0, quota - self._api_left[period])
                else:
                    used = state.used(period, key) if state is not None else 0
                if used >= self.settings.refuse_at * quota:
                    raise QuotaExhaustedError(
                        self._refusal(period, quota, used, resets, table_now),
                        status=429,
                        retry_after=max(1.0, resets.timestamp() - table_now),
                    )

    def _fresh_state(self) -> BucketState | None:
        now = self._clock()
        if self._table_down(now):
            return self._state
        if self._state is not None and now - self._state_read_at < STATE_FRESH_SECONDS:
            return self._state
        try:
            return self._read()
        except Exception as exc:  # noqa: BLE001 - never fail a query for the table
            self._table_failed(exc)
            return None

    def _refusal(self, period: str, quota: int, used: int, resets: dt.datetime, now: float) -> str:
        left = max(0, quota - used)
        name = "daily" if period == "day" else "hourly"
        wait = max(0, int(resets.timestamp() - now))
        return (
            f"new scans are refused: {used:,} of this credential's {name} quota of {quota:,} API requests are "
            f"used ({used / quota:.0%}, the limit for new scans is {self.settings.refuse_at:.0%}); {left:,} left, "
            f"the quota resets at {resets:%Y-%m-%d %H:%M} UTC (in {wait // 3600}h {wait % 3600 // 60:02d}m); "
            "running reads finish; wait for the reset or raise rate_limit.shared.refuse_at in the catalog"
        )

    # ---- accounting and exit ------------------------------------------------------------------

    def record_usage(self, kind: str, run_id: str, counts: Mapping[str, int | float]) -> None:
        if not run_id or not any(counts.values()) or self._table_down(self._clock()):
            return
        try:
            self.table.add_usage(kind, run_id, counts, self._clock() + self._offset)
        except Exception as exc:  # noqa: BLE001 - accounting never fails a query
            self._table_failed(exc)

    def close(self) -> None:
        """Give the held tokens back to the bucket and report the unused ones to the quota count."""
        with self._lock:
            held, self._lease = len(self._lease), deque()
            if (not held and not self._unused) or self._table_down(self._clock()):
                return
            self._unused += held

            def give_back(state: BucketState | None, table_now: float) -> BucketState | None:
                if state is None:
                    return None
                tokens = min(float(self.burst), self._refilled(state, table_now) + held)
                return self._count(state, table_now, 0, tokens=tokens)

            try:
                self._commit(give_back)
            except Exception as exc:  # noqa: BLE001 - at exit the table may be gone; nothing to tell
                log.debug("could not give back %d tokens: %s", held, type(exc).__name__)
        _open.discard(self)


class _TooContended(Exception):
    """MAX_CONFLICTS writes in a row lost the race; this request takes an in-process token."""


_open: weakref.WeakSet[DynamoBudget] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for budget in list(_open):
        budget.close()
