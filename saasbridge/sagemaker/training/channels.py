"""Training channels from an entity's records: the CSV files a training job (or an Autopilot job) reads.

The layout `saasbridge extract --for-training` writes, with the columns chosen: the target first,
then the features in the order given; numbers with the digits the connector sent, booleans 1/0, a
missing feature an empty field; no header (an Autopilot channel has one: Autopilot needs the
column names). Rows whose target is missing cannot train a model: they are left out and counted.
The split is deterministic by record: the first 8 bytes of sha256(primary key) as a fraction of
2^64, below the validation fraction → validation, so re-running an extract never moves a record.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from saasbridge.errors import ConfigError

NUMERIC = {"Integer", "Short", "Long", "BigInteger", "Float", "Double", "BigDecimal"}
FEATURE_TYPES = NUMERIC | {"Boolean"}
DEFAULT_VALIDATION_FRACTION = 0.2


def split_fraction(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def encode_number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return "1" if value.lower() == "true" else "0"
    return format(value, "f") if isinstance(value, Decimal) else str(value)


@dataclass(frozen=True)
class ChannelSpec:
    """Which columns go into the channels, and how."""

    entity: str
    target: str
    features: tuple[str, ...]
    key: str | None  # the primary key: what the split hashes (else the row's values)
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    header: bool = False

    @property
    def columns(self) -> list[str]:
        return [self.target, *self.features]


@dataclass
class Channels:
    """The CSV text of each channel (only channels with rows) and the row counts."""

    files: dict[str, bytes] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=lambda: {"train": 0, "validation": 0, "skipped_null_target": 0})


def check_spec(fields: Mapping[str, Mapping[str, Any]], entity: str, target: str, features: list[str]) -> None:
    """One-line errors for columns that cannot be used: unknown, not numeric or boolean, the target among
    the features, a feature twice. `fields`: DescribeEntity's field definitions by name."""
    known = ", ".join(sorted(fields))
    if not features:
        raise ConfigError("--features: name at least one feature column, e.g. --features a,b")
    if target in features:
        raise ConfigError(f"--target {target} is also in --features; the target cannot be a feature")
    repeated = sorted({f for f in features if features.count(f) > 1})
    if repeated:
        raise ConfigError(f"--features names {', '.join(repeated)} more than once")
    for flag, name in [("--target", target), *(("--features", f) for f in features)]:
        if name not in fields:
            raise ConfigError(f"{flag} {name!r} is not a field of {entity}; its fields: {known}")
        kind = fields[name].get("dataType")
        if kind not in FEATURE_TYPES:
            raise ConfigError(f"{flag} {name!r} of {entity} is {kind}; training columns must be numeric or boolean")


def build_channels(records: Iterable[Mapping[str, Any]], spec: ChannelSpec) -> Channels:
    """Every record into the train or validation channel (CSV), by the split above."""
    out = Channels()
    buffers = {name: io.StringIO() for name in ("train", "validation")}
    writers = {name: csv.writer(buffer, lineterminator="\n") for name, buffer in buffers.items()}
    if spec.header:
        for writer in writers.values():
            writer.writerow(spec.columns)
    for record in records:
        if record.get(spec.target) is None:
            out.rows["skipped_null_target"] += 1
            continue
        values = [encode_number(record.get(c)) for c in spec.columns]
        key = str(record[spec.key]) if spec.key and record.get(spec.key) is not None else ",".join(values)
        channel = "validation" if split_fraction(key) < spec.validation_fraction else "train"
        writers[channel].writerow(values)
        out.rows[channel] += 1
    for name, buffer in buffers.items():
        if out.rows[name]:
            out.files[name] = buffer.getvalue().encode()
    if not out.rows["train"]:
        skipped = out.rows["skipped_null_target"]
        raise ConfigError(f"{spec.entity}: no rows to train on" + (f" ({skipped} rows have no {spec.target})"
                                                                    if skipped else "; check --where"))  # fmt: skip
    return out
