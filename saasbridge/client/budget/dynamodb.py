"""The shared backend: one token bucket and request quotas per catalog and credential in a DynamoDB
table, used by every process (Lambda containers, local commands) that names the table.

The bucket is kept as GCRA's theoretical arrival time (`tat`): taking n tokens moves it n/rate
later, in one atomic conditional update and no read, so contenders never retry each other's
writes and queue in the order their updates land (fair). Each token of a lease carries the time
it may be used; the requests of all processes together keep the pace of one bucket. A process
takes a few tokens per update (a lease); a token left unused a while after its time (a lease
that came back late, a stalled process) is dropped and reported, with what is left at exit, so the
counts stay exact; a killed process loses at most its lease (and the token of the request it
was sending). While the last token's request is out, the next lease is taken. The table keeps `lease` tokens of
the burst (and one more) in reserve, which covers a lease used up to its own length late.

Clocks: each update stamps the writer's time (`seen`); a process that finds a later stamp than
its own clock adopts it and runs on from there with its monotonic clock, so skew between
containers never stalls anyone and adds at most one burst.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from saasbridge.catalog.model import SharedBudget
from saasbridge.client.budget.base import Budget
from saasbridge.client.budget.local import Clock, TokenBucket
from saasbridge.errors import QuotaExhaustedError, aws_error_code

log = logging.getLogger("saasbridge.client.budget")

BUCKET_SK = "bucket"
COUNT_SK = "count#"  # + period + "#" + period key: requests counted in one UTC day or hour
USAGE_SK = "usage#"  # + kind + "#" + query id / flow execution id
KEEP_SECONDS = 35 * 86400  # items untouched this long expire (the table's TTL attribute)
TTL_ATTRIBUTE = "expires_at"
RETRY_TABLE_SECONDS = 30.0  # after a failure, the in-process bucket serves this long
STATE_FRESH_SECONDS = 1.0  # a quota check reuses counts read this recently
PERIODS = ("day", "hour")


def default_lease(rate: float, burst: int) -> int:
    """A tenth of a second of the rate: at least 1 token, at most half the burst."""
    return max(1, min(max(1, burst // 2), math.ceil(rate / 10)))


def tenant_key(catalog: str, identity: str) -> str:
    """The partition key of a catalog and credential (`identity` is already a one-way hash)."""
    return f"{catalog}#{identity}"


def period_keys(epoch: float) -> dict[str, tuple[str, dt.datetime]]:
    """{"day": (key, resets at), "hour": (key, resets at)} in UTC."""
    now = dt.datetime.fromtimestamp(epoch, dt.UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hour = now.replace(minute=0, second=0, microsecond=0)
    return {
        "day": (day.strftime("%Y-%m-%d"), day + dt.timedelta(days=1)),
        "hour": (hour.strftime("%Y-%m-%dT%H"), hour + dt.timedelta(hours=1)),
    }


@dataclass(frozen=True)
class BucketState:
    """The bucket item: the theoretical arrival time, the last writer's clock, token counts."""

    tat: float
    seen: float
    granted: int = 0  # tokens ever taken from the bucket
    returned: int = 0  # tokens taken but never used (left at exit, or dropped as stale)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> BucketState:
        return cls(item_number(item, "tat"), item_number(item, "seen"),
                   int(item_number(item, "granted")), int(item_number(item, "returned")))  # fmt: skip

    def tokens(self, now: float, rate: float, burst: int) -> float:
        """Tokens free at `now` (negative: a queue of that many)."""
        return min(float(burst), burst - (self.tat - now) * rate)


def item_number(item: Mapping[str, Any], name: str) -> float:
    """A number attribute of a DynamoDB item; 0 when it is absent."""
    return float(item[name]["N"]) if name in item else 0.0


def _n(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 6)) if isinstance(value, float) else str(value)}


class BucketTable:
    """One tenant's items in the table: atomic updates of the bucket, counters and usage records."""

    def __init__(self, table: str, pk: str, *, client: Any = None):
        self.table = table
        self.pk = pk
        self._client = client
        self.calls = {"read": 0, "write": 0, "conflict": 0, "retried": 0}  # what the budget costs in DynamoDB requests
        self._tat = -math.inf  # where our last lease ended (the bucket's tat is at least that)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = dynamodb_client()
        return self._client

    def _key(self, sk: str) -> dict[str, Any]:
        return {"pk": {"S": self.pk}, "sk": {"S": sk}}

    def _update(self, sk: str, expression: str, values: dict[str, Any], condition: str | None = None,
                names: dict[str, str] | None = None) -> dict[str, Any] | None:  # fmt: skip
        """One UpdateItem; the old attributes, or None when `condition` did not hold."""
        self.calls["write"] += 1
        extra: dict[str, Any] = {"ConditionExpression": condition} if condition else {}
        if names:
            extra["ExpressionAttributeNames"] = names
        try:
            answer = self.client.update_item(
                TableName=self.table, Key=self._key(sk), UpdateExpression=expression,
                ExpressionAttributeValues=values, ReturnValues="UPDATED_OLD", **extra,
            )  # fmt: skip
        except self.client.exceptions.ConditionalCheckFailedException:
            self.calls["conflict"] += 1
            return None
        self.calls["retried"] += answer.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        return answer.get("Attributes", {})

    def take(
        self, tokens: int, rate: float, now: float, latest: float, stale: int, lead: float = 0.0
    ) -> tuple[float, float]:
        """Move the bucket `tokens` later: join the queue when there is one (tat > now), else start
        one `lead` seconds after `now` (when the answer will be back); refuse (return tat = inf)
        when the first token would come after `latest`. Returns (the tat the lease starts from,
        the previous writer's clock)."""
        values = {":now": _n(now), ":n": _n(tokens), ":stale": _n(stale), ":exp": _n(int(now) + KEEP_SECONDS)}
        sets = "seen = :now, expires_at = :exp ADD granted :n, returned :stale"
        join = self._tat > now  # tat only grows: past our last lease's end there is surely a queue
        for _ in range(100):
            if join:
                old = self._update(
                    BUCKET_SK, f"SET tat = tat + :inc, {sets}",
                    {**values, ":inc": _n(tokens / rate), ":latest": _n(latest)}, "tat > :now AND tat <= :latest",
                )  # fmt: skip
                if old is not None:
                    start = float(old["tat"]["N"])
                    break
            else:
                old = self._update(
                    BUCKET_SK, f"SET tat = :start, {sets}", {**values, ":start": _n(now + lead + tokens / rate)},
                    "attribute_not_exists(tat) OR tat <= :now",
                )
                if old is not None:
                    start = now + lead
                    break
            if join:  # neither joined nor started: the queue is too long, or it just emptied
                state = self.read()
                if state is not None and state.tat > latest:
                    return math.inf, state.seen
            join = not join
        else:
            raise RuntimeError("the bucket item changed under every update")
        self._tat = start + tokens / rate
        return start, item_number(old, "seen")

    def report_unused(self, unused: int) -> None:
        """Count tokens taken but never used. They are not put back: later leases may already
        hold the times after them, and a second holder of a time would break the pace."""
        self._update(BUCKET_SK, "ADD returned :r", {":r": _n(unused)})

    def read(self) -> BucketState | None:
        self.calls["read"] += 1
        item = self.client.get_item(TableName=self.table, Key=self._key(BUCKET_SK), ConsistentRead=True).get("Item")
        return BucketState.from_item(item) if item else None

    def count(self, period: str, key: str, add: int, *, set_to: int | None = None, expires: float) -> None:
        """Add `add` requests to a period's counter (or set it to `set_to` plus `add`: the API's count)."""
        values = {":exp": _n(int(expires))}
        if set_to is None:
            expression, values[":add"] = "SET expires_at = :exp ADD used :add", _n(add)
        else:
            expression, values[":set"] = "SET expires_at = :exp, used = :set", _n(set_to + add)
        self._update(f"{COUNT_SK}{period}#{key}", expression, values)

    def counted(self, keys: Mapping[str, str]) -> dict[str, int]:
        """Requests counted so far in each period ({"day": key, …})."""
        self.calls["read"] += 1
        answer = self.client.batch_get_item(RequestItems={self.table: {
            "Keys": [self._key(f"{COUNT_SK}{p}#{k}") for p, k in keys.items()], "ConsistentRead": True,
        }})  # fmt: skip
        found = {item["sk"]["S"]: int(item_number(item, "used"))
                 for item in answer.get("Responses", {}).get(self.table, [])}  # fmt: skip
        return {p: found.get(f"{COUNT_SK}{p}#{k}", 0) for p, k in keys.items()}

    def add_usage(self, kind: str, run_id: str, counts: Mapping[str, int | float], now: float) -> None:
        """Add one invocation's counts to the record of a query or flow run."""
        names = {"#k": "kind", "#r": "run_id", "#u": "updated_at", "#f": "first_at"}
        values: dict[str, Any] = {
            ":k": {"S": kind}, ":r": {"S": run_id}, ":u": _n(int(now)), ":e": _n(int(now) + KEEP_SECONDS),
            ":one": _n(1),
        }  # fmt: skip
        adds = ["invocations :one"]
        for i, (name, value) in enumerate(sorted(counts.items())):
            names[f"#c{i}"] = name
            values[f":c{i}"] = _n(int(value))
            adds.append(f"#c{i} :c{i}")
        expression = "SET #k = :k, #r = :r, #u = :u, expires_at = :e, #f = if_not_exists(#f, :u) ADD "
        self._update(f"{USAGE_SK}{kind}#{run_id}", expression + ", ".join(adds), values, names=names)


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
        prefetch: bool = True,
    ):
        self.table = table
        self.prefetch = prefetch  # take the next lease while the last token's request is out
        self.rate = max(float(rate), 1e-6)
        self.burst = max(1, int(burst))
        self.settings = settings
        self.lease_size = settings.lease or default_lease(self.rate, self.burst)
        # The table's burst keeps a lease and one token in reserve: a token used up to a lease's
        # length late, and a request delayed on its way to the API, still keep the requests the
        # API sees in any window within rate * window + burst.
        self.tolerance = max(0, self.burst - 2 - self.lease_size) / self.rate
        self.stale_after = self.lease_size / self.rate
        self._clock = clock
        self._offset = wall_clock() - clock()  # table time = monotonic clock + offset
        self._lock = threading.Lock()
        self._lease: deque[float] = deque()  # when each held token may be used (monotonic clock)
        self._stale = 0  # tokens dropped unused, not yet reported
        self._uncounted = 0  # requests on in-process tokens, not yet in the quota count
        self._paused_until = 0.0
        self._latency = 0.0  # how long a lease takes to come back (moving average)
        self._counts: dict[str, int] = {}
        self._counts_at = -math.inf
        self._api_left: dict[str, int] = {}  # the API's own quota counts, stored at the next lease
        self._fallback = TokenBucket(self.rate, self.burst, clock=clock)
        self._down_until: float | None = None
        self._warned = False
        self.local_tokens = 0  # tokens the in-process bucket handed out while the table was down
        _open.add(self)
        try:
            _ = table.client  # made now, not on the first request (a Lambda's init phase)
        except Exception as exc:  # noqa: BLE001 - no region, no boto3: the in-process bucket serves
            self._table_failed(exc)

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
                except Exception as exc:  # noqa: BLE001 - any table failure: never fail a query for it
                    self._table_failed(exc)
                    return self._local(max_wait)
                now = self._clock()
                self._drop_stale(now, keep=1)  # a lease that came back late: its last token still serves
            wait = max(0.0, self._lease[0] - now, self._paused_until - now)
            if max_wait is not None and wait > max_wait:
                return None
            self._lease.popleft()
            if not self._lease and self.prefetch:
                threading.Thread(target=self._prefetch, name="budget-lease", daemon=True).start()
            return wait

    def _prefetch(self) -> None:
        """The next lease, taken while the request of the last token is on its way (the next
        reserve() finds it ready, or waits for the lock until it is)."""
        with self._lock:
            now = self._clock()
            if self._lease or self._table_down(now):
                return
            try:
                self._take_lease(now, None)
            except Exception as exc:  # noqa: BLE001 - the next reserve() falls back
                self._table_failed(exc)

    def _local(self, max_wait: float | None) -> float | None:
        wait = self._fallback.reserve(max_wait)
        if wait is not None:
            self.local_tokens += 1
            self._uncounted += 1  # a request all the same: the quota counts it once the table is back
        return wait

    def cap(self, tokens: float) -> None:
        with self._lock:
            while len(self._lease) > max(0, math.floor(tokens)):
                self._lease.pop()
                self._stale += 1
        self._fallback.cap(tokens)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._fallback.pause(seconds)

    @property
    def tokens(self) -> float:
        with self._lock:
            return float(len(self._lease))

    def _drop_stale(self, now: float, keep: int = 0) -> None:
        while len(self._lease) > keep and self._lease[0] + self.stale_after < now:
            self._lease.popleft()
            self._stale += 1

    def _take_lease(self, now: float, max_wait: float | None) -> bool:
        """One atomic update for a lease of tokens; False (nothing taken) when the first would
        come later than `max_wait`."""
        size = self.lease_size
        table_now = now + self._offset
        latest = math.inf if max_wait is None else table_now + max_wait + self.tolerance
        tat, seen = self.table.take(size, self.rate, table_now, min(latest, 1e12), self._stale, self._latency)
        self._latency += 0.3 * (self._clock() - now - self._latency)
        if tat == math.inf:
            return False
        self._count(table_now, size, unused=self._stale - self._uncounted)
        self._stale = self._uncounted = 0
        # The last writer read its clock before our update landed: a reading later than ours now
        # (not merely later than ours before the call) means this clock is behind. Adopt its time.
        after = self._clock() + self._offset
        if seen > after:
            self._offset += seen - after
            table_now += seen - after
            tat = max(tat, table_now)
        start = max(tat, table_now) - self.tolerance
        step = 1.0 / self.rate
        self._lease.extend(now + max(0.0, start + i * step - table_now) for i in range(size))
        return True

    # ---- fallback -----------------------------------------------------------------------------

    def _table_down(self, now: float) -> bool:
        if self._down_until is None:
            return False
        if now < self._down_until:
            return True
        self._down_until = None  # try the table again
        return False

    def _table_failed(self, exc: BaseException) -> None:
        self._down_until = self._clock() + RETRY_TABLE_SECONDS
        if not self._warned:
            self._warned = True
            code = aws_error_code(exc)
            log.warning(
                "shared rate budget table %r is unreachable (%s); this process uses its own token bucket "
                "and tries the table again every %.0f s",
                self.table.table, code, RETRY_TABLE_SECONDS,
            )  # fmt: skip

    # ---- quotas -------------------------------------------------------------------------------

    def _count(self, table_now: float, leased: int, *, unused: int = 0) -> None:
        """Count `leased` tokens as requests against the configured quotas, less `unused` ones
        counted before (negative: requests made on in-process tokens). The API's own count, when
        it sent one, replaces ours (it has every request it received)."""
        for period, (key, resets) in period_keys(table_now).items():
            quota = self.settings.quota(period)
            if not quota:
                continue
            left = self._api_left.pop(period, None)
            expires = resets.timestamp() + KEEP_SECONDS
            if left is None:
                self.table.count(period, key, leased - unused, expires=expires)
            else:  # the API counted what it received; the lease's tokens are requests to come
                self.table.count(period, key, leased, set_to=max(0, quota - left), expires=expires)
            self._counts_at = -math.inf

    def observe(self, headers: Mapping[str, str]) -> None:
        for period, name in (("day", self.settings.daily_remaining_header),
                             ("hour", self.settings.hourly_remaining_header)):  # fmt: skip
            value = headers.get(name) if name else None
            if value is None:
                continue
            try:
                left = max(0, int(float(value)))
            except ValueError:
                continue
            with self._lock:
                self._api_left[period] = left

    def admit_scan(self) -> None:
        periods = [p for p in PERIODS if self.settings.quota(p)]
        if not periods:
            return
        with self._lock:
            table_now = self._clock() + self._offset
            keys = period_keys(table_now)
            counts = self._fresh_counts({p: keys[p][0] for p in periods})
            for period in periods:
                quota = self.settings.quota(period) or 0
                left = self._api_left.get(period)
                used = max(0, quota - left) if left is not None else counts.get(period, 0)
                if used >= self.settings.refuse_at * quota:
                    resets = keys[period][1]
                    raise QuotaExhaustedError(
                        self._refusal(period, quota, used, resets, table_now),
                        status=429,
                        retry_after=max(1.0, resets.timestamp() - table_now),
                    )

    def _fresh_counts(self, keys: dict[str, str]) -> dict[str, int]:
        now = self._clock()
        if self._table_down(now):
            return {}
        if now - self._counts_at >= STATE_FRESH_SECONDS or set(keys) - set(self._counts):
            try:
                self._counts, self._counts_at = self.table.counted(keys), now
            except Exception as exc:  # noqa: BLE001 - never fail a query for the table
                self._table_failed(exc)
                return {}
        return self._counts

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
        """Report the held tokens and the stale ones as unused (to the counts and the quota)."""
        with self._lock:
            held, self._lease = len(self._lease), deque()
            unused, self._stale = held + self._stale, 0
            _open.discard(self)
            if not unused or self._table_down(self._clock()):
                return
            table_now = self._clock() + self._offset
            try:
                self.table.report_unused(unused)
                self._count(table_now, 0, unused=unused)
            except Exception as exc:  # noqa: BLE001 - at exit the table may be gone; nothing to tell
                log.debug("could not give back %d tokens: %s", unused, type(exc).__name__)


_open: weakref.WeakSet[DynamoBudget] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for budget in list(_open):
        budget.close()
