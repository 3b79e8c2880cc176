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
JSON = "application/json"
JSON_LINES = "application/jsonlines"
CONTENT_TYPES = (CSV, JSON, JSON_LINES)
JSON_TYPES = (JSON, JSON_LINES)  # the inputs that may carry text and nested values
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's request limit
SERVERLESS_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024  # a serverless endpoint's request limit
DEFAULT_MAX_ROWS = 1000
_JSON_ENVELOPE = (b'{"instances": [', b"]}")
# AppFlow data types (DescribeEntity) the default CSV decoders read as one float matrix.
NUMERIC_DATA_TYPES = frozenset({"Integer", "Long", "Short", "Byte", "BigInteger", "Double", "Float", "BigDecimal",
                                "Boolean"})  # fmt: skip


class PredictionFormatError(ValueError):
    """A model response that does not hold one prediction per input row."""


@dataclass(frozen=True)
class Prediction:
    score: float | None  # None: a foundation model's answer, in `text` or `vector`
    label: str | None = None
    text: str | None = None
    vector: list[float] | None = None


def canonical_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` → `application/json`; x-jsonlines is jsonlines."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return JSON_LINES if kind in ("application/x-jsonlines", "application/json-lines") else kind


def check_features(fields: dict[str, dict], features: Sequence[str], content_type: str) -> None:
    """Before any row is read: every feature is numeric (or boolean) unless the model takes JSON,
    which carries text and nested values as they are."""
    if canonical_type(content_type) in JSON_TYPES:
        return
    other = [f"{name} ({fields[name].get('dataType') or '?'})" for name in features
             if fields.get(name, {}).get("dataType") not in NUMERIC_DATA_TYPES]  # fmt: skip
    if other:
        raise ConfigError(
            f"--features {', '.join(other)}: not numeric; a {content_type} model's default decoder reads one "
            "float matrix, so pick numeric or boolean features, or --content-type application/json if its "
            "input_fn takes JSON"
        )


def _float(value: Any, name: str) -> float | None:
    """A feature value as the float a default CSV decoder reads (None: missing, NaN)."""
    if value is None:
        return None
    if isinstance(value, (bool, int, float, Decimal)):  # an int above 2**53 becomes the nearest float64
        number = float(value)
        return None if math.isnan(number) else number
    kind = "nested" if isinstance(value, (dict, list)) else "text"
    raise ConfigError(f"feature {name} holds a {kind} value ({str(value)[:40]!r}); the model's decoder reads "
                      "floats only: pick numeric --features, or --content-type application/json")  # fmt: skip


def _json_value(value: Any) -> Any:
    """A feature value in a JSON input: numbers (booleans too) as floats, a non-finite one null."""
    if isinstance(value, (bool, int, Decimal)):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, (str, float)) or value is None:
        return value
    return str(value)  # dates and times: their ISO text


def encode_features(row: dict, features: Sequence[str], content_type: str = CSV) -> bytes:
    """One input row (with its newline) from the feature columns of `row`: for CSV, floats only
    (booleans 1.0/0.0, integers as floats, a missing value `nan`: an empty field would make numpy's
    genfromtxt read a batch of only missing values as booleans); for JSON and
    JSON Lines, numbers as floats and text or nested values as they are."""
    kind = canonical_type(content_type)
    if kind == CSV:
        values = [_float(row.get(f), f) for f in features]
        return (",".join("nan" if v is None else repr(v) for v in values) + "\n").encode()
    if kind not in JSON_TYPES:
        raise ConfigError(f"content type {content_type!r}: use one of {', '.join(CONTENT_TYPES)}")
    values = [_json_value(row.get(f)) for f in features]
    item: Any = {"features": values} if kind == JSON_LINES else values
    return json.dumps(item, separators=(",", ":")).encode() + b"\n"


def encode_row(row: dict, columns: Sequence[str]) -> bytes:
    """One CSV line of `columns` as they are (text quoted, booleans 1/0): what Athena sends an
    external function."""
    out = io.StringIO()
    cells = ["" if row.get(c) is None else int(row[c]) if isinstance(row.get(c), bool) else row[c] for c in columns]
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue().encode()


def join_body(lines: Sequence[bytes], content_type: str = CSV) -> bytes:
    """The request body of encoded rows: CSV and JSON Lines one per line, JSON {"instances": [...]}."""
    if canonical_type(content_type) == JSON:
        return _JSON_ENVELOPE[0] + b",".join(line.rstrip(b"\n") for line in lines) + _JSON_ENVELOPE[1]
    return b"".join(lines)


@dataclass
class Batch:
    """Consecutive input rows sent in one request: `rows` are their indexes in the run."""

    rows: list[int]
    body: bytes
    ids: list[str] = field(default_factory=list)  # the rows' ids, set by the run (batch transform joins on them)


def batches(
    lines: Iterable[tuple[int, bytes]], *, max_bytes: int = MAX_PAYLOAD_BYTES, max_rows: int = DEFAULT_MAX_ROWS,
    content_type: str = CSV,
) -> Iterator[Batch | tuple[int, str]]:
    """Group encoded lines into request bodies (`join_body`) of at most `max_rows` rows and
    `max_bytes` bytes; a line that alone exceeds `max_bytes` comes out as (row, reason) instead.

    A CSV batch of one row is avoided when `max_rows` > 2 and the limits allow: numpy's genfromtxt
    (the scikit-learn container's default decoder) reads one line as a 1-D array, which a model's
    predict refuses, so a lone last row takes one row from the batch before it."""
    if canonical_type(content_type) == JSON:  # the envelope; each row's newline stands for its comma
        max_bytes -= sum(len(part) for part in _JSON_ENVELOPE)
    groups: list[list[tuple[int, bytes]]] = []  # at most the last two, held back for the rebalancing
    size = 0
    for index, line in lines:
        if len(line) > max_bytes:
            yield index, f"input row is {len(line)} bytes, over the {max_bytes}-byte request limit"
            continue
        if groups and groups[-1] and (size + len(line) > max_bytes or len(groups[-1]) >= max_rows):
            groups.append([])
            size = 0
            if len(groups) > 2:
                yield _batch(groups.pop(0), content_type)
        if not groups:
            groups.append([])
        groups[-1].append((index, line))
        size += len(line)
    if len(groups) == 2 and len(groups[1]) == 1 and len(groups[0]) > 2 and canonical_type(content_type) == CSV:
        moved = groups[0][-1]
        if len(moved[1]) + len(groups[1][0][1]) <= max_bytes:
            groups = [groups[0][:-1], [moved, *groups[1]]]
    for group in groups:
        if group:
            yield _batch(group, content_type)


def _batch(group: list[tuple[int, bytes]], content_type: str) -> Batch:
    return Batch([index for index, _ in group], join_body([line for _, line in group], content_type))


@dataclass(frozen=True)
class OutputSpec:
    """Where a row's score is in the model's answer: `field` names the key of a JSON object that
    holds it (`--output-field`); `klass` picks one class of per-class scores (`--class`: a column
    index, or a label the answer lists under `labels`/`classes`), default the last (the positive
    class of a binary classifier)."""

    field: str | None = None
    klass: str | None = None


_SCORE_KEYS = ("score", "probability", "probabilities", "scores", "prediction", "predicted_value")
_LABEL_KEYS = ("predicted_label", "label")
_CLASS_KEYS = ("labels", "classes")


def _prediction(item: Any, spec: OutputSpec) -> Prediction:
    """A score (and maybe a label) from one row's item of a model's answer: a number; a list of
    per-class scores; or an object holding either under `spec.field` (default: the first of
    score, probability, probabilities, scores, prediction, predicted_value)."""
    if isinstance(item, dict):
        label = next((item[k] for k in _LABEL_KEYS if item.get(k) is not None), None)
        key = spec.field or next((k for k in _SCORE_KEYS if k in item), None)
        if key is None or key not in item:
            want = f"field {spec.field!r}" if spec.field else "score"
            raise PredictionFormatError(f"a prediction object without a {want} (keys: {', '.join(map(str, item))[:80]}); "
                                        "name the score's key with --output-field")  # fmt: skip
        classes = next((item[k] for k in _CLASS_KEYS if isinstance(item.get(k), list)), None)
        return Prediction(_score(item[key], spec, classes), None if label is None else str(label))
    return Prediction(_score(item, spec, None))


def _score(value: Any, spec: OutputSpec, classes: list | None) -> float:
    if isinstance(value, (list, tuple)):
        value = _pick_class(list(value), spec.klass, classes)
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise PredictionFormatError(f"a prediction that is not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(score):
        raise PredictionFormatError(f"a prediction that is not finite: {score}")
    return score


def _pick_class(values: list, klass: str | None, classes: list | None) -> Any:
    if not values:
        raise PredictionFormatError("an empty prediction")
    if klass is None:
        return values[-1]
    if classes is not None and klass in [str(c) for c in classes]:
        return values[[str(c) for c in classes].index(klass)]
    try:
        return values[int(klass)]
    except ValueError:
        raise PredictionFormatError(f"--class {klass}: the answer lists no such class (classes: "
                                    f"{', '.join(map(str, classes or [])) or 'none named'})") from None  # fmt: skip
    except IndexError:
        raise PredictionFormatError(f"--class {klass}: the answer has {len(values)} classes") from None


def _json_items(value: Any, expected: int, spec: OutputSpec) -> list[Any]:
    """The per-row items of a JSON answer: a list, or the list an envelope holds."""
    if isinstance(value, dict):
        for key in (spec.field, "predictions", "scores", "probabilities", "outputs"):
            if key and isinstance(value.get(key), list) and len(value[key]) == expected:
                found = value[key]
                return [v if key != spec.field else {spec.field: v} for v in found]
        if expected == 1:
            return [value]
        raise PredictionFormatError('a JSON response must be a list, or {"predictions": [...]} with one item per row')
    if not isinstance(value, list):
        return [value]
    return value


def parse_predictions(
    body: bytes, content_type: str | None, expected: int, spec: OutputSpec | None = None
) -> list[Prediction]:
    """Exactly `expected` predictions from a response body (CSV lines of one or more columns, JSON,
    or JSON Lines)."""
    spec = spec or OutputSpec()
    text = body.decode("utf-8", errors="replace").strip()
    kind = canonical_type(content_type)
    items: list[Any]
    if kind == JSON or (not kind and text[:1] in "[{"):
        try:
            items = _json_items(json.loads(text), expected, spec)
        except json.JSONDecodeError:
            raise PredictionFormatError("the response is not JSON") from None
    elif kind == JSON_LINES:
        try:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            raise PredictionFormatError("a response line is not JSON") from None
    else:
        items = [next(csv.reader([line])) for line in text.splitlines() if line.strip()]
        items = [cells[0] if len(cells) == 1 else cells for cells in items]
    if len(items) != expected:
        raise PredictionFormatError(f"the model returned {len(items)} predictions for {expected} rows")
    return [_prediction(item, spec) for item in items]
