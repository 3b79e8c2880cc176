"""The model's input and output: feature columns → request bodies (CSV without header, or JSON
Lines), cut into batches under the payload limit; response bodies → one prediction per row."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from saasbridge.errors import ConfigError

CSV = "text/csv"
JSON_LINES = "application/jsonlines"
CONTENT_TYPES = (CSV, JSON_LINES)
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's request limit
DEFAULT_MAX_ROWS = 1000


class PredictionFormatError(ValueError):
    """A model response that does not hold one prediction per input row."""


@dataclass(frozen=True)
class Prediction:
    score: float | None  # None: a foundation model's answer, in `text` or `vector`
    label: str | None = None
    text: str | None = None
    vector: list[float] | None = None


def _cell(value: Any) -> Any:
    if value is None:
        return ""  # a missing value: the model's input_fn decides (SageMaker's CSV reader gives NaN)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        raise ConfigError("a feature column holds a nested value (struct, map or list); pick scalar --features")
    return value


def encode_row(row: dict, features: Sequence[str], content_type: str = CSV) -> bytes:
    """One input line (with its newline) from the feature columns of `row`."""
    if content_type == JSON_LINES:
        values = [_cell(row.get(f)) for f in features]
        values = [None if v == "" else float(v) if isinstance(v, Decimal) else v for v in values]
        return json.dumps({"features": values}).encode() + b"\n"
    if content_type != CSV:
        raise ConfigError(f"content type {content_type!r}: use one of {', '.join(CONTENT_TYPES)}")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([_cell(row.get(f)) for f in features])
    return out.getvalue().encode()


@dataclass
class Batch:
    """Consecutive input rows sent in one request: `rows` are their indexes in the run."""

    rows: list[int]
    body: bytes
    ids: list[str] = field(default_factory=list)  # the rows' ids, set by the run (batch transform joins on them)


def batches(
    lines: Iterable[tuple[int, bytes]], *, max_bytes: int = MAX_PAYLOAD_BYTES, max_rows: int = DEFAULT_MAX_ROWS
) -> Iterator[Batch | tuple[int, str]]:
    """Group encoded lines into batches of at most `max_rows` rows and `max_bytes` bytes; a line
    that alone exceeds `max_bytes` comes out as (row, reason) instead."""
    rows: list[int] = []
    parts: list[bytes] = []
    size = 0
    for index, line in lines:
        if len(line) > max_bytes:
            yield index, f"input row is {len(line)} bytes, over the {max_bytes}-byte request limit"
            continue
        if rows and (size + len(line) > max_bytes or len(rows) >= max_rows):
            yield Batch(rows, b"".join(parts))
            rows, parts, size = [], [], 0
        rows.append(index)
        parts.append(line)
        size += len(line)
    if rows:
        yield Batch(rows, b"".join(parts))


def _prediction(item: Any) -> Prediction:
    """A score (and maybe a label) from one item of a model's answer.

    A number is the score; a list is a row of `predict_proba` (the score is the last class's
    probability, the positive class of a binary classifier) or [label, score]; an object names
    `score` (or `probability`/`prediction`) and maybe `label`."""
    if isinstance(item, dict):
        label = item.get("label", item.get("predicted_label"))
        for key in ("score", "probability", "prediction", "predicted_value"):
            if key in item:
                return Prediction(_score(item[key]), None if label is None else str(label))
        raise PredictionFormatError(f"a prediction object without a score: {str(item)[:80]}")
    if isinstance(item, (list, tuple)):
        if not item:
            raise PredictionFormatError("an empty prediction")
        return Prediction(_score(item[-1]))
    return Prediction(_score(item))


def _score(value: Any) -> float:
    if isinstance(value, (list, tuple)) and value:
        value = value[-1]
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise PredictionFormatError(f"a prediction that is not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(score):
        raise PredictionFormatError(f"a prediction that is not finite: {score}")
    return score


def parse_predictions(body: bytes, content_type: str | None, expected: int) -> list[Prediction]:
    """Exactly `expected` predictions from a response body (CSV lines, JSON or JSON Lines)."""
    text = body.decode("utf-8", errors="replace").strip()
    kind = (content_type or "").split(";")[0].strip().lower()
    items: list[Any]
    if kind == "application/json" or (not kind and text[:1] in "[{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise PredictionFormatError("the response is not JSON") from None
        if isinstance(value, dict):
            value = value.get("predictions", value.get("scores"))
        if not isinstance(value, list):
            raise PredictionFormatError("a JSON response must be a list or {\"predictions\": [...]}")
        items = value
    elif kind in ("application/jsonlines", "application/x-jsonlines"):
        try:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            raise PredictionFormatError("a response line is not JSON") from None
    else:
        items = [next(csv.reader([line])) for line in text.splitlines() if line.strip()]
        items = [cells[0] if len(cells) == 1 else cells for cells in items]
    if len(items) != expected:
        raise PredictionFormatError(f"the model returned {len(items)} predictions for {expected} rows")
    return [_prediction(item) for item in items]
