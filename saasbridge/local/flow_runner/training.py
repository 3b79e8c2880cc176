"""`--for-training TARGET`: a SageMaker-ready copy of the run's records.

Layout (under the flow's output, `_training/<execution id>/`; the `_` keeps it out of readers of
the flow's data files):  `train/part-00000.csv`, `validation/part-00000.csv`, `manifest.json`.

- Columns: the target first, then every numeric or boolean field except the target and the primary
  key, in DescribeEntity order (the layout SageMaker's built-in algorithms read from CSV).
- CSV: no header; booleans 1/0; numbers with the digits the connector sent; a null feature is an
  empty field (XGBoost reads it as missing). Parquet: the same columns as float64, null stays null.
- Rows whose target is null cannot train a model: they are left out and counted in the manifest.
- Split: deterministic by record: the first 8 bytes of sha256(primary key) as a fraction of 2^64;
  below `validation_fraction` → validation. Re-running an extract never moves a record.
"""

from __future__ import annotations

import csv
import json

from saasbridge.errors import ConfigError
from saasbridge.local.flow_runner.destination import Destination
from saasbridge.local.flow_runner.typing_ import Column
from saasbridge.sagemaker.training.channels import (
    DEFAULT_VALIDATION_FRACTION,
    FEATURE_TYPES,
    encode_number,
    split_fraction,
)

TRAINING_FORMATS = ("csv", "parquet")


def to_float(value) -> float | None:
    text = encode_number(value)
    return None if text == "" else float(text)


def check_training(
    columns: list[Column], target: str, entity: str, *, fmt: str, validation_fraction: float
) -> None:
    """Raise a ConfigError when `--for-training` cannot run as asked (checked once, before the run)."""
    by_name = {c.name: c for c in columns}
    if target not in by_name:
        raise ConfigError(f"--for-training {target!r} is not a field of {entity}")
    if by_name[target].data_type not in FEATURE_TYPES:
        raise ConfigError(
            f"--for-training {target!r} is {by_name[target].data_type}; the target must be numeric or boolean"
        )
    if fmt not in TRAINING_FORMATS:
        raise ConfigError(f"--training-format {fmt!r}: use csv or parquet")
    if not 0.0 <= validation_fraction < 1.0:
        raise ConfigError("--validation-fraction must be at least 0 and below 1")


class TrainingSink:
    """The train and validation channels of one run; the options are `check_training`'s."""

    def __init__(
        self, destination: Destination, directory: str, columns: list[Column], target: str, *,
        fmt: str = "csv", validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    ):  # fmt: skip
        by_name = {c.name: c for c in columns}
        self.destination, self.directory, self.fmt = destination, directory.rstrip("/"), fmt
        self.target = by_name[target]
        self.key = next((c.name for c in columns if c.is_primary_key), None)
        self.features = [
            c for c in columns if c.data_type in FEATURE_TYPES and c.name != target and c.name != self.key
        ]
        self.columns = [self.target, *self.features]
        self.validation_fraction = validation_fraction
        self.counts = {"train": 0, "validation": 0, "skipped_null_target": 0}
        self._files: dict[str, list] = {}
        self._open()

    def _rel(self, channel: str) -> str:
        return f"{self.directory}/{channel}/part-00000.{self.fmt}"

    def _open(self) -> None:
        for channel in ("train", "validation"):
            path = self.destination.staging(self._rel(channel))
            if self.fmt == "csv":
                handle = path.open("w", newline="", encoding="utf-8")
                self._files[channel] = [handle, csv.writer(handle, lineterminator="\n")]
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                schema = pa.schema([pa.field(c.name, pa.float64()) for c in self.columns])
                self._files[channel] = [pq.ParquetWriter(str(path), schema), schema]

    def write(self, records: list[dict], texts: list[str]) -> None:
        batches: dict[str, list[list]] = {"train": [], "validation": []}
        for record, text in zip(records, texts, strict=True):
            if record.get(self.target.name) is None:
                self.counts["skipped_null_target"] += 1
                continue
            key = str(record.get(self.key)) if self.key and record.get(self.key) is not None else text
            channel = "validation" if split_fraction(key) < self.validation_fraction else "train"
            batches[channel].append([record.get(c.name) for c in self.columns])
        for channel, rows in batches.items():
            if not rows:
                continue
            self.counts[channel] += len(rows)
            if self.fmt == "csv":
                self._files[channel][1].writerows([encode_number(v) for v in row] for row in rows)
            else:
                import pyarrow as pa

                writer, schema = self._files[channel]
                cols = [
                    pa.array([to_float(row[i]) for row in rows], pa.float64())
                    for i in range(len(self.columns))
                ]
                writer.write_table(pa.Table.from_arrays(cols, schema=schema))

    def abort(self) -> None:
        """A failed run: close both channels and remove what they staged."""
        for channel, (handle, _) in self._files.items():
            handle.close()
            self.destination.discard(self._rel(channel))
        self._files = {}

    def close(self) -> dict:
        """Publish both channels and the manifest; returns the manifest."""
        channels = {}
        for channel, (handle, _) in self._files.items():
            handle.close()
            self.destination.publish(self._rel(channel))
            channels[channel] = self.destination.uri(f"{self.directory}/{channel}/")
        manifest = {
            "target": self.target.name,
            "columns": [{"name": c.name, "type": c.data_type, "role": "target" if c is self.target else "feature"}
                        for c in self.columns],
            "format": self.fmt,
            "csv": {"header": False, "booleans": "true=1 false=0", "nulls": "empty field"} if self.fmt == "csv" else None,
            "split": {"method": "sha256(key)[:8] / 2**64 < validation_fraction", "key": self.key or "record text",
                      "validation_fraction": self.validation_fraction},
            "rows": dict(self.counts),
            "channels": channels,
        }  # fmt: skip
        rel = f"{self.directory}/manifest.json"
        self.destination.write_text(rel, json.dumps(manifest, indent=1))
        self.manifest_uri = self.destination.uri(rel)
        return manifest
