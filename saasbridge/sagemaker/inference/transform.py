"""Batch transform: the rows go to S3 as CSV lines `id,features…`, one CreateTransformJob scores
them all (lines split, the id dropped from the model input by InputFilter and joined back to the
output with JoinSource=Input), the run waits for the job, then reads the `.out` objects. Rows
stream: input objects are written as rows are read, outputs are parsed line by line as they are
read, and which object holds which row is kept on disk (`RowMap`), so memory stays flat."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from saasbridge.errors import ConfigError, aws_error_line
from saasbridge.s3url import parse_s3_url
from saasbridge.sagemaker.inference.base import Outcome, Scorer
from saasbridge.sagemaker.inference.payload import (
    CSV,
    Batch,
    Prediction,
    PredictionFormatError,
    parse_predictions,
)
from saasbridge.sagemaker.inference.rowmap import RowMap
from saasbridge.sagemaker.waiting import TRANSFORM_JOB, wait_for

ROWS_PER_OBJECT = 100_000  # rows per input object, at most
OBJECT_BYTES = 16 * 1024 * 1024  # and bytes per input object (the one held in memory while uploading)
READ_BYTES = 1024 * 1024  # bytes per read of an output object
OUTCOME_ROWS = 1000  # rows per outcome handed to the run while reading outputs
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_TIMEOUT_SECONDS = 3600.0


class TransformScorer(Scorer):
    mode = "batch"

    def __init__(
        self, session: Any, model: str, s3_uri: str, *, endpoint: str | None = None,
        instance_type: str = DEFAULT_INSTANCE_TYPE, instance_count: int = 1, poll_seconds: float = 2.0,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, rows_per_object: int = ROWS_PER_OBJECT,
    ):  # fmt: skip
        super().__init__()
        self.model, self.endpoint = model, endpoint
        self.job_name = f"saasbridge-{uuid.uuid4().hex[:20]}"
        where = parse_s3_url(s3_uri, "--s3-uri")
        self._bucket, prefix = where.bucket, where.prefix
        self._input = f"{prefix}/{self.job_name}/input".lstrip("/")
        self._output = f"{prefix}/{self.job_name}/output".lstrip("/")
        self._instance = (instance_type, instance_count)
        self._sm, self._s3 = session.client("sagemaker"), session.client("s3")
        self._poll, self._timeout = poll_seconds, timeout_seconds
        self._rows_per_object = rows_per_object

    def check_input(self) -> None:
        if self.content_type != CSV:
            raise ConfigError(f"--mode batch joins row ids to CSV lines; model {self.model} takes {self.content_type}: "
                              "score it with --mode realtime or async")  # fmt: skip

    def score_all(self, batches: Iterable[Batch]) -> Iterator[tuple[Batch, Outcome]]:
        """Upload the rows as they come, run one job over them, then the outcomes output object by
        output object, OUTCOME_ROWS rows at a time (memory: one input object's bytes while uploading,
        one chunk of outcomes while reading; which row is where lives in a `RowMap` on disk)."""
        rows = RowMap()
        try:
            parts = self._upload(batches, rows)
            if not parts:
                return
            failure = self._run_job()
            for part in range(parts):
                if failure:
                    yield from _chunks(((n, rid, failure) for n, rid in rows.waiting(part)))
                else:
                    yield from _chunks(self._read_output(part, rows))
        finally:
            rows.close()

    def _upload(self, batches: Iterable[Batch], rows: RowMap) -> int:
        """Write `id,features…` lines to `part-NNNNN.csv` objects as they come, recording in `rows`
        which object holds which row; the number of objects written."""
        count = 0
        for count, lines in enumerate(_objects(_id_lines(batches), self._rows_per_object), start=1):
            key = f"{self._input}/{_part_name(count - 1)}"
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=b"".join(line for _, _, line in lines),
                                ContentType=CSV)  # fmt: skip
            rows.add(count - 1, ((number, rid) for number, rid, _ in lines))
        return count

    def _run_job(self) -> str | None:
        """Create the job and wait for it; None when it completed, else the reason."""
        from botocore.exceptions import BotoCoreError, ClientError

        instance_type, count = self._instance
        try:
            self._sm.create_transform_job(
                TransformJobName=self.job_name, ModelName=self.model, BatchStrategy="MultiRecord",
                MaxPayloadInMB=6,
                TransformInput={
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                    "S3Uri": f"s3://{self._bucket}/{self._input}/"}},
                    "ContentType": CSV, "SplitType": "Line",
                },
                TransformOutput={"S3OutputPath": f"s3://{self._bucket}/{self._output}/", "Accept": CSV,
                                 "AssembleWith": "Line"},
                TransformResources={"InstanceType": instance_type, "InstanceCount": count},
                DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
            )  # fmt: skip
        except (ClientError, BotoCoreError) as exc:
            return f"CreateTransformJob failed: {aws_error_line(exc)}"
        self.on_status(f"transform job {self.job_name}: waiting up to {self._timeout:.0f} s")
        waited = wait_for(self._sm, TRANSFORM_JOB, self.job_name, timeout=self._timeout, poll=self._poll)
        self.on_status(f"transform job {self.job_name}: {waited.status}")
        if waited.timed_out:
            return f"transform job {waited.timeout_note(self._timeout)}"
        if waited.status != "Completed":
            reason = waited.description.get("FailureReason") or "no reason given"
            return f"transform job {waited.status.lower()}: {reason}"
        return None

    def _read_output(self, part: int, rows: RowMap) -> Iterator[tuple[int, str, Prediction | str]]:
        """(row number, id, prediction or why there is none) for each row of input object `part`,
        read line by line from its `.out` object; then the rows it has no line for."""
        from botocore.exceptions import BotoCoreError, ClientError

        out_key = f"{self._output}/{_part_name(part)}.out"
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=out_key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            reason = f"no transform output s3://{self._bucket}/{out_key} ({aws_error_line(exc)})"
            yield from ((n, rid, reason) for n, rid in rows.waiting(part))
            return
        with contextlib.closing(body):
            lines = (line.decode() for line in body.iter_lines(chunk_size=READ_BYTES, keepends=True))
            for cells in csv.reader(lines):
                number = rows.take(cells[0]) if cells else None
                if number is not None:
                    yield number, cells[0], _prediction(cells)
        yield from ((n, rid, "the transform output has no line for this row") for n, rid in rows.waiting(part))


def _part_name(part: int) -> str:
    return f"part-{part:05d}.csv"


def _prediction(cells: list[str]) -> Prediction | str:
    """The prediction of one output line `id,…,score`, or why it has none."""
    if len(cells) < 2:
        return "the output line holds no prediction"
    try:
        return parse_predictions(cells[-1].encode(), CSV, 1)[0]
    except PredictionFormatError as exc:
        return str(exc)


def _id_lines(batches: Iterable[Batch]) -> Iterator[tuple[int, str, bytes]]:
    """(row number, id, `id,features…` line) for each row of the batches."""
    for batch in batches:
        for number, rid, line in zip(batch.rows, batch.ids, batch.body.splitlines(keepends=True), strict=True):
            yield number, rid, _id_cell(rid) + line


def _objects(lines: Iterable[tuple[int, str, bytes]], max_rows: int) -> Iterator[list[tuple[int, str, bytes]]]:
    """The lines grouped into input objects of at most `max_rows` rows and about OBJECT_BYTES."""
    chunk: list[tuple[int, str, bytes]] = []
    size = 0
    for item in lines:
        chunk.append(item)
        size += len(item[2])
        if len(chunk) >= max_rows or size >= OBJECT_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _chunks(outcomes: Iterable[tuple[int, str, Prediction | str]]) -> Iterator[tuple[Batch, Outcome]]:
    """Row outcomes grouped OUTCOME_ROWS at a time, each group split by outcome: the rows with a
    prediction, then the rows per failure reason."""
    items = iter(outcomes)
    while chunk := list(itertools.islice(items, OUTCOME_ROWS)):
        yield from _split(chunk)


def _split(chunk: list[tuple[int, str, Prediction | str]]) -> Iterator[tuple[Batch, Outcome]]:
    good = [(n, rid, value) for n, rid, value in chunk if isinstance(value, Prediction)]
    if good:
        yield Batch([n for n, _, _ in good], b"", [rid for _, rid, _ in good]), [value for _, _, value in good]
    failed: dict[str, list[tuple[int, str]]] = {}
    for n, rid, value in chunk:
        if isinstance(value, str):
            failed.setdefault(value, []).append((n, rid))
    for reason, rows in failed.items():
        yield Batch([n for n, _ in rows], b"", [rid for _, rid in rows]), reason


def _id_cell(row_id: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([row_id])
    return out.getvalue().encode() + b","
