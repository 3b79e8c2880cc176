"""Batch transform: the rows go to S3 as CSV lines `id,features…`, one CreateTransformJob scores
them all (lines split, the id dropped from the model input by InputFilter and joined back to the
output with JoinSource=Input), the run waits for the job, then reads the `.out` objects."""

from __future__ import annotations

import csv
import io
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
from saasbridge.sagemaker.waiting import TRANSFORM_JOB, wait_for

ROWS_PER_OBJECT = 100_000
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_TIMEOUT_SECONDS = 3600.0


class TransformScorer(Scorer):
    mode = "batch"

    def __init__(
        self, session: Any, model: str, s3_uri: str, *, endpoint: str | None = None,
        instance_type: str = DEFAULT_INSTANCE_TYPE, instance_count: int = 1, poll_seconds: float = 2.0,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
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

    def check_input(self) -> None:
        if self.content_type != CSV:
            raise ConfigError(f"--mode batch joins row ids to CSV lines; model {self.model} takes {self.content_type}: "
                              "score it with --mode realtime or async")  # fmt: skip

    def score_all(self, batches: Iterable[Batch]) -> Iterator[tuple[Batch, Outcome]]:
        batches = list(batches)
        keys = self._upload(batches)
        failure = self._run_job()
        if failure:
            for batch in batches:
                yield batch, failure
            return
        found = self._read_output(keys)
        for batch in batches:
            yield from _outcomes(batch, found)

    def _upload(self, batches: list[Batch]) -> list[tuple[str, list[str]]]:
        """Write `id,features…` lines, ROWS_PER_OBJECT per object; returns (key, ids) per object."""
        objects: list[tuple[str, list[str]]] = []
        parts: list[bytes] = []
        ids: list[str] = []
        for batch in [*batches, None]:
            if batch is not None:
                lines = batch.body.decode().splitlines(keepends=True)
                parts.extend(_id_cell(rid) + line.encode() for rid, line in zip(batch.ids, lines, strict=True))
                ids.extend(batch.ids)
            if parts and (batch is None or len(ids) >= ROWS_PER_OBJECT):
                key = f"{self._input}/part-{len(objects):05d}.csv"
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=b"".join(parts), ContentType=CSV)
                objects.append((key, ids))
                parts, ids = [], []
        return objects

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

    def _read_output(self, objects: list[tuple[str, list[str]]]) -> dict[str, Prediction | str]:
        """id → prediction (or why its output line is unusable), from every `<input>.out`."""
        from botocore.exceptions import ClientError

        found: dict[str, Prediction | str] = {}
        for key, ids in objects:
            out_key = f"{self._output}/{key.rsplit('/', 1)[1]}.out"
            try:
                text = self._s3.get_object(Bucket=self._bucket, Key=out_key)["Body"].read().decode()
            except ClientError as exc:
                reason = f"no transform output s3://{self._bucket}/{out_key} ({aws_error_line(exc)})"
                found.update(dict.fromkeys(ids, reason))
                continue
            for cells in csv.reader(io.StringIO(text)):
                if not cells:
                    continue
                try:
                    found[cells[0]] = parse_predictions(cells[-1].encode(), CSV, 1)[0] if len(cells) > 1 else \
                        "the output line holds no prediction"
                except PredictionFormatError as exc:
                    found[cells[0]] = str(exc)
        return found


def _outcomes(batch: Batch, found: dict[str, Prediction | str]) -> Iterator[tuple[Batch, Outcome]]:
    """The batch split by outcome: the rows with a prediction, then the rows per failure reason."""
    good: list[tuple[int, str]] = []
    predictions: list[Prediction] = []
    failed: dict[str, list[tuple[int, str]]] = {}
    for index, rid in zip(batch.rows, batch.ids, strict=True):
        value = found.get(rid, "the transform output has no line for this row")
        if isinstance(value, Prediction):
            good.append((index, rid))
            predictions.append(value)
        else:
            failed.setdefault(value, []).append((index, rid))
    if good:
        yield _part(good), predictions
    for reason, rows in failed.items():
        yield _part(rows), reason


def _part(rows: list[tuple[int, str]]) -> Batch:
    """Some rows of a batch (their numbers and ids), without a body."""
    return Batch([index for index, _ in rows], b"", [rid for _, rid in rows])


def _id_cell(row_id: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([row_id])
    return out.getvalue().encode() + b","
