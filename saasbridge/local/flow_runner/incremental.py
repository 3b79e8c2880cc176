"""Incremental pulls: the time window each run sends, and the per-flow state that makes runs add
up to every change exactly once.

The rules (AppFlow's behaviour, which the reference leaves open in §9, pinned down here):

- A run's window is on the entity's incremental field (the DescribeEntity field with
  `isTimestampFieldForIncrementalQueries`). Its upper bound is the run's start time `T`.
- First run (no state): `field <= T` (everything up to now; records with no timestamp are not part
  of an incremental flow, as with AppFlow).
- Later runs: `field between W - L and T`, where `W` is the previous successful run's upper bound
  and `L` the lookback (default 300 s). `between` is inclusive, the form AppFlow sends. The overlap
  catches records written late with an older timestamp (clock skew, slow commits).
- Exactly once: the state remembers which records it delivered with a timestamp inside the
  overlap (`seen`: record key → timestamp); a record arriving again with the same key *and* the same
  timestamp is skipped, a record with a newer timestamp is a new change and is delivered. So a run
  after no change delivers nothing, and a record on a window edge is delivered once.
- The state is written only after the run's files are published: a failed run is repeated whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from saasbridge.drivers.appflow import format_instant
from saasbridge.errors import ConfigError
from saasbridge.local.flow_runner.typing_ import Column, parse_timestamp

STATE_FILE = "_saasbridge_state.json"  # `_` prefix: Parquet/Spark/Athena readers skip it
STATE_VERSION = 1
DEFAULT_LOOKBACK_SECONDS = 300.0


def truncate_ms(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass
class FlowState:
    entity: str
    field: str
    watermark: str | None = None  # upper bound of the last successful run (filter literal)
    lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS
    seen: dict[str, str] = field(default_factory=dict)  # record key → timestamp literal
    last_execution_id: str | None = None

    @classmethod
    def load(cls, text: str | None, entity: str, incremental_field: str) -> FlowState:
        if not text:
            return cls(entity, incremental_field)
        try:
            body = json.loads(text)
            state = cls(
                body["entity"], body["field"], body.get("watermark"),
                float(body.get("lookback_seconds", DEFAULT_LOOKBACK_SECONDS)),
                dict(body.get("seen") or {}), body.get("last_execution_id"),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                f"the flow state {STATE_FILE} is unreadable; delete it to start the flow over"
            ) from None
        if (state.entity, state.field) != (entity, incremental_field):
            raise ConfigError(
                f"the flow state belongs to {state.entity}.{state.field}, not {entity}.{incremental_field}; "
                "use another --flow-name or delete the state file"
            )
        return state

    def dumps(self) -> str:
        body = {
            "version": STATE_VERSION, "entity": self.entity, "field": self.field, "watermark": self.watermark,
            "lookback_seconds": self.lookback_seconds, "seen": self.seen, "last_execution_id": self.last_execution_id,
        }  # fmt: skip
        return json.dumps(body, indent=1, sort_keys=True)


class IncrementalRun:
    """One run's window and its exactly-once bookkeeping."""

    def __init__(self, state: FlowState, column: Column, key_column: str | None, now: dt.datetime):
        self.state, self.column, self.key_column = state, column, key_column
        self.is_date = column.data_type == "Date"
        self.upper = truncate_ms(now.astimezone(dt.UTC))
        self.skipped = 0  # records already delivered by an earlier run (overlap)
        self._delivered: dict[str, str] = {}

    def _literal(self, instant: dt.datetime) -> str:
        return instant.date().isoformat() if self.is_date else format_instant(instant)

    @property
    def lookback(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.state.lookback_seconds)

    def window_expression(self) -> str:
        name = self.column.name
        if self.state.watermark is None:
            return f"{name} <= {self._literal(self.upper)}"
        lower = parse_timestamp(self.state.watermark) - self.lookback
        return f"{name} between {self._literal(lower)} and {self._literal(self.upper)}"

    def _key(self, record: dict, text: str) -> str:
        if self.key_column is not None and record.get(self.key_column) is not None:
            return str(record[self.key_column])
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]

    def _stamp(self, record: dict) -> str | None:
        value: Any = record.get(self.column.name)
        if value is None:
            return None
        if self.is_date:
            return str(value)[:10]
        return format_instant(parse_timestamp(value))

    def admit(self, record: dict, text: str) -> bool:
        """Whether to deliver this record (False = an earlier run already delivered this version)."""
        key, stamp = self._key(record, text), self._stamp(record)
        if stamp is not None and self.state.seen.get(key) == stamp:
            self.skipped += 1
            return False
        if stamp is not None:
            self._delivered[key] = stamp
        return True

    def next_state(self, execution_id: str) -> FlowState:
        """The state after this run succeeded: watermark = T, `seen` = what lies in the next overlap."""
        horizon = self.upper - self.lookback
        seen = {**self.state.seen, **self._delivered}
        keep = {k: s for k, s in seen.items() if parse_timestamp(s) >= horizon} if not self.is_date else {
            k: s for k, s in seen.items() if s >= horizon.date().isoformat()
        }  # fmt: skip
        return FlowState(
            self.state.entity, self.state.field, self._literal(self.upper) if self.is_date else format_instant(self.upper),
            self.state.lookback_seconds, keep, execution_id,
        )  # fmt: skip
