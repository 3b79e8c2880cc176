"""One scoring run: read the rows, build the model input, score (any `Scorer`), write one
prediction per row into the target entity keyed by (entity, row id, model), and account for every
row: read = resumed + skipped (up to date, with `stale_only`) + predicted + failed before writing,
predicted = written + failed writing. Each prediction records the model version that produced it
(see `version`) when the scorer knows it and the target has the field."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from saasbridge.drivers.appflow import format_instant
from saasbridge.errors import ConfigError
from saasbridge.progress import Progress
from saasbridge.sagemaker.inference import payload, source, version
from saasbridge.sagemaker.inference.base import Scorer
from saasbridge.sagemaker.inference.foundation import TextInput
from saasbridge.sagemaker.inference.ledger import DONE, REPEATED, Ledger
from saasbridge.sagemaker.inference.payload import Batch, Prediction

DEFAULT_TARGET = "predictions"
PREDICTION_FIELDS = ["id", "entity_type", "entity_id", "model", "score", "endpoint", "predicted_at"]
_ID_TEXT = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


@dataclass
class PredictOptions:
    entity: str
    features: list[str]
    into: str = DEFAULT_TARGET
    where: str | None = None  # AppFlow filter language, pushed down by the connector
    id_column: str | None = None  # default: the entity's primary key
    connection: source.Connection = field(default_factory=source.Connection)
    max_rows_per_request: int = payload.DEFAULT_MAX_ROWS
    progress: bool | None = None
    text: TextInput | None = None  # a foundation model's task: its text per row instead of --features
    checkpoint: str | None = None  # a file recording the rows written, to resume an interrupted run
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    stale_only: bool = False  # score only rows whose prediction is missing or from an older version
    content_type: str | None = None  # --content-type/--accept as given: over what the model log recorded
    accept: str | None = None


@dataclass
class PredictResult:
    entity: str
    into: str
    mode: str
    model: str
    endpoint: str | None
    read: int = 0
    predicted: int = 0
    written: int = 0
    failures: dict[str, list[str]] = field(default_factory=dict)  # reason → row ids
    retries: int = 0
    seconds: float = 0.0
    resumed: int = 0  # rows skipped: an earlier run with the same checkpoint wrote them
    skipped: int = 0  # rows whose prediction is up to date (stale_only)

    @property
    def failed(self) -> int:
        return sum(len(ids) for ids in self.failures.values())

    def fail(self, reason: str, row_ids: list[str]) -> None:
        self.failures.setdefault(reason, []).extend(row_ids)

    def summary(self) -> str:
        """The accounting, one line (reasons follow in `failure_lines`)."""
        source_ = f"endpoint {self.endpoint} (model {self.model})" if self.endpoint else f"model {self.model}"
        return (
            f"{self.mode}: {self.entity} scored with {source_}: {self.read} rows read"
            + (f" ({self.resumed} written before, skipped)" if self.resumed else "") + f", {self.predicted} "
            f"predicted, {self.written} written to {self.into}, {self.failed} failed, {self.retries} retried "
            f"requests, {self.seconds:.1f} s" + (f"; {self.skipped} rows up to date, not scored" if self.skipped else "")
        )

    def failure_lines(self, max_ids: int = 5) -> list[str]:
        lines = []
        for reason, ids in sorted(self.failures.items(), key=lambda kv: -len(kv[1])):
            shown = ", ".join(ids[:max_ids]) + (f", … {len(ids) - max_ids} more" if len(ids) > max_ids else "")
            lines.append(f"{len(ids)} rows failed: {reason} (ids: {shown})")
        return lines


def prediction_id(entity: str, row_id: str, model: str) -> str:
    """The prediction's key: the same row scored by the same model always gets the same id."""
    text = f"{entity}:{row_id}:{model}"
    if _ID_TEXT.fullmatch(text):
        return text
    return f"{entity[:20]}:h{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def check_feature_names(features: list[str]) -> None:
    """`--features` names at least one column, and no name is empty (`a,,b`)."""
    if not features:
        raise ConfigError("--features: name the feature columns, in the order the model was trained on")
    empty = [str(i + 1) for i, name in enumerate(features) if not name.strip()]
    if empty:
        raise ConfigError(f"--features {','.join(features)!r}: name {', '.join(empty)} is empty; remove the extra comma")


def prediction_fields(options: PredictOptions) -> list[str]:
    """The fields the target entity needs: the score's, or the foundation task's output field."""
    if options.text is None:
        return PREDICTION_FIELDS
    return [options.text.output_field() if f == "score" else f for f in PREDICTION_FIELDS]


def predict(options: PredictOptions, scorer: Scorer) -> PredictResult:
    """Score the rows of `options.entity` with `scorer` and write the predictions. Everything that
    can be checked is checked before the first row is read (the scorer's own checks, e.g. the
    endpoint's, ran when it was built). Rows stream from read to score to write (a few batches in
    flight), so memory stays flat however many there are; with `options.checkpoint`, rows a
    previous run wrote are skipped."""
    if options.text is None:
        check_feature_names(options.features)
    started = time.monotonic()
    reader = options.connection.open()
    writer = _Writer(copy.copy(reader), options.into)  # write calls carry the target's entity definition
    target_fields = source.check_target(writer.session, options.into, prediction_fields(options))
    versioned = bool(scorer.version) and version.VERSION_FIELD in target_fields
    id_column = _check_input(reader, options, scorer)
    up_to_date = _up_to_date(writer.session, options, scorer, versioned) if options.stale_only else frozenset()
    result = PredictResult(options.entity, options.into, scorer.mode, scorer.model, scorer.endpoint)
    ledger = Ledger(options.checkpoint, _run_key(options, scorer))
    predicted_at = format_instant(options.clock())
    progress = Progress(f"{options.entity} → {scorer.mode} → {options.into}", enabled=options.progress)
    scorer.on_status = lambda note: progress.update(records=result.predicted + result.failed, note=note)  # type: ignore[method-assign]
    try:
        batches = _input_batches(reader, options, scorer, result, id_column, ledger, up_to_date)
        for batch, outcome in scorer.score_all(batches):
            if isinstance(outcome, str):
                result.fail(outcome, batch.ids)
            else:
                result.predicted += len(batch.ids)
                for rid, prediction in zip(batch.ids, outcome, strict=True):
                    record = _record(options.entity, rid, prediction, scorer, predicted_at)
                    writer.add(rid, {**record, version.VERSION_FIELD: scorer.version} if versioned else record, result,
                               ledger)  # fmt: skip
            progress.update(records=result.predicted + result.failed)
        writer.flush(result, ledger)
    finally:
        progress.close()
        scorer.close()
        ledger.close()
    result.resumed = ledger.resumed
    result.retries = scorer.retries
    result.seconds = time.monotonic() - started
    return result


def _up_to_date(session: Any, options: PredictOptions, scorer: Scorer, versioned: bool) -> frozenset[str]:
    """The rows of `options.entity` whose newest prediction in the target came from the version
    serving now."""
    current = version.require_version(scorer.version, scorer.endpoint)
    if not versioned:
        raise ConfigError(f"--stale-only: --into {options.into} has no {version.VERSION_FIELD} field, so which "
                          "version made a prediction is not known")  # fmt: skip
    columns = ["entity_type", "entity_id", "endpoint", version.VERSION_FIELD, "predicted_at"]
    return frozenset(version.up_to_date_rows(source.read_rows(session, options.into, columns, None), options.entity,
                                             scorer.endpoint or "", current))  # fmt: skip


def _check_input(reader: Any, options: PredictOptions, scorer: Scorer) -> str:
    """Before any row: the id and input columns exist, the features' types fit the model's input,
    their number matches the input schema the model log recorded, and the scorer takes this input.
    Returns the id column."""
    fields, pk = source.entity_fields(reader, options.entity)
    id_column = options.id_column or pk
    if not id_column:
        raise ConfigError(f"{options.entity} has no primary key; name the row id with --id-column")
    unknown = [c for c in [id_column, *_input_columns(options)] if c not in fields]
    if unknown:
        raise ConfigError(f"{', '.join(unknown)}: not fields of {options.entity} (fields: {', '.join(fields)})")
    if options.text is None:
        record = source.model_record(reader, scorer.model)
        _recorded_types(scorer, record, options)
        payload.check_features(fields, options.features, scorer.content_type)
        recorded = source.input_width(record.get("input_schema"))
        if recorded is not None and recorded != len(options.features):
            raise ConfigError(
                f"--features names {len(options.features)} columns; model {scorer.model}'s input schema in the "
                f"model log has {recorded}: name the columns it was trained on, in order"
            )
    scorer.check_input()
    return id_column


def _recorded_types(scorer: Scorer, record: dict, options: PredictOptions) -> None:
    """The content types the model log recorded for the model (`input_content_type`,
    `output_content_type`) take the place of the model package's, unless given as options."""
    recorded = payload.canonical_type(record.get("input_content_type")) if not options.content_type else ""
    if recorded:
        if recorded not in payload.CONTENT_TYPES:
            raise ConfigError(f"model {scorer.model} takes {recorded} (its input_content_type in the model log); "
                              f"saasbridge sends {', '.join(payload.CONTENT_TYPES)}")  # fmt: skip
        scorer.content_type = recorded
    if not options.accept and record.get("output_content_type"):
        scorer.accept = payload.canonical_type(record["output_content_type"])


def _input_columns(options: PredictOptions) -> list[str]:
    return list(options.text.columns) if options.text else options.features


def _run_key(options: PredictOptions, scorer: Scorer) -> dict[str, object]:
    """What a checkpoint belongs to: the same rows scored by the same model into the same target."""
    return {"entity": options.entity, "into": options.into, "model": scorer.model, "where": options.where,
            "inputs": _input_columns(options), "task": options.text.task if options.text else "score",
            "prompt": options.text.prompt if options.text else None}  # fmt: skip


def _encoded_rows(
    reader: Any, options: PredictOptions, scorer: Scorer, result: PredictResult, id_column: str, ledger: Ledger,
    up_to_date: frozenset[str],
) -> Iterator[tuple[int, str, bytes]]:
    """(row number, row id, encoded input) for each row read that can be sent; rows that cannot are
    failed, rows an earlier run wrote or `up_to_date` are skipped."""
    columns = list(dict.fromkeys([id_column, *_input_columns(options)]))
    for number, row in enumerate(source.read_rows(reader, options.entity, columns, options.where)):
        result.read += 1
        rid = row.get(id_column)
        seen = ledger.see(str(rid)) if rid is not None else None
        if seen is None or seen == REPEATED:
            result.fail("no row id" if rid is None else f"{id_column} repeats", [str(rid)])
            continue
        if seen == DONE:
            continue
        if str(rid) in up_to_date:
            result.skipped += 1
            continue
        try:
            if options.text is not None:
                line = options.text.encode(row)
            else:
                line = payload.encode_features(row, options.features, scorer.content_type)
        except ConfigError as exc:
            result.fail(str(exc), [str(rid)])
            continue
        yield number, str(rid), line


def _input_batches(
    reader: Any, options: PredictOptions, scorer: Scorer, result: PredictResult, id_column: str, ledger: Ledger,
    up_to_date: frozenset[str] = frozenset(),
) -> Iterator[Batch]:
    """The encoded rows cut into request batches (each with its rows' ids), as they are read."""
    ids: dict[int, str] = {}  # row number → id, for the rows of batches not yet cut

    def lines() -> Iterator[tuple[int, bytes]]:
        for number, rid, line in _encoded_rows(reader, options, scorer, result, id_column, ledger, up_to_date):
            ids[number] = rid
            yield number, line

    max_bytes = scorer.max_payload_bytes or payload.MAX_PAYLOAD_BYTES
    max_rows = min(options.max_rows_per_request, scorer.max_rows or options.max_rows_per_request)
    for item in payload.batches(lines(), max_bytes=max_bytes, max_rows=max_rows, content_type=scorer.content_type):
        if isinstance(item, Batch):
            item.ids = [ids.pop(i) for i in item.rows]
            yield item
        else:
            result.fail(item[1], [ids.pop(item[0])])


class _Writer:
    """Buffers prediction records and upserts them WRITE_BATCH at a time, accounting each."""

    def __init__(self, session: Any, entity: str):
        self.session, self.entity = session, entity
        self._pending: list[tuple[str, dict]] = []

    def add(self, row_id: str, record: dict, result: PredictResult, ledger: Ledger) -> None:
        self._pending.append((row_id, record))
        if len(self._pending) >= source.WRITE_BATCH:
            self.flush(result, ledger)

    def flush(self, result: PredictResult, ledger: Ledger) -> None:
        outcomes = source.upsert(self.session, self.entity, [record for _, record in self._pending])
        written = []
        for (row_id, _), problem in zip(self._pending, outcomes, strict=True):
            if problem is None:
                written.append(row_id)
            else:
                result.fail(problem, [row_id])
        result.written += len(written)
        ledger.written(written)
        self._pending.clear()


def _record(entity: str, row_id: str, prediction: Prediction, scorer: Scorer, predicted_at: str) -> dict:
    record = {
        "id": prediction_id(entity, row_id, scorer.model), "entity_type": entity, "entity_id": row_id,
        "model": scorer.model, "predicted_at": predicted_at,
    }  # fmt: skip
    if prediction.score is not None:
        record["score"] = prediction.score
    if scorer.endpoint:
        record["endpoint"] = scorer.endpoint
    for name, value in (("label", prediction.label), ("text", prediction.text), ("embedding", prediction.vector)):
        if value is not None:
            record[name] = value
    return record
