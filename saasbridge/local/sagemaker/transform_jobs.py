"""Batch transform jobs run for real: what a CreateTransformJob against the stand-in asks for is
executed against the model's server, and the job's status is then what DescribeTransformJob says.

Supported as SageMaker documents it: S3Prefix input (every object under the prefix, gzip or not),
SplitType None or Line, BatchStrategy SingleRecord or MultiRecord (records packed up to
MaxPayloadInMB), MaxConcurrentTransforms, DataProcessing (InputFilter, JoinSource=Input,
OutputFilter; CSV records are JSON arrays of their fields), AssembleWith None or Line, and the
output object `<input key relative to the S3Uri's folder>.out` under S3OutputPath.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from saasbridge.local.sagemaker import jsonpath
from saasbridge.local.sagemaker.hosts import ModelStartError, model_spec
from saasbridge.local.sagemaker.invocations import Reply, stop_job
from saasbridge.local.sagemaker.s3_objects import object_keys
from saasbridge.local.sagemaker.tracking import Tracked
from saasbridge.s3url import parse_s3_url

MB = 1024 * 1024
JSON_TYPES = ("application/json", "application/jsonlines", "application/x-jsonlines")


class TransformFailed(Exception):
    """The job's FailureReason."""


class TransformStopped(Exception):
    """StopTransformJob was asked for; the job ends before its next model call."""


@dataclass
class JobState:
    status: str = "InProgress"
    stop_requested: bool = False
    failure_reason: str | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended: datetime | None = None
    outputs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RecordFormat:
    """How one record is read, filtered and written for a content type."""

    csv: bool

    def parse(self, text: str) -> Any:
        if self.csv:
            return next(csv.reader([text]), [])
        return json.loads(text)

    def dump(self, value: Any) -> str:
        if self.csv:
            if not isinstance(value, list):
                return str(value)
            out = io.StringIO()
            csv.writer(out, lineterminator="").writerow(value)
            return out.getvalue()
        return json.dumps(value, separators=(",", ":"))


def record_format(content_type: str | None) -> RecordFormat:
    kind = (content_type or "").split(";")[0].strip().lower()
    return RecordFormat(csv=kind not in JSON_TYPES)


def output_key(s3_uri: str, key: str, output_path: str) -> str:
    """Where SageMaker writes the output of input object `key`: its path relative to the S3Uri's
    folder, under S3OutputPath, with `.out` appended."""
    prefix = parse_s3_url(s3_uri, "S3Uri").key
    folder = prefix[: prefix.rfind("/") + 1]
    return f"{output_path.rstrip('/')}/{key[len(folder):]}.out"


class TransformJob:
    """One job's execution (the CreateTransformJob request, the caller's clients, the runtime)."""

    def __init__(self, request: dict[str, Any], clients: Any, runtime: Any):
        self.request = request
        self.clients = clients
        self.runtime = runtime
        self.state = JobState()
        source = request["TransformInput"]["DataSource"]["S3DataSource"]
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise TransformFailed(f"S3DataType {source.get('S3DataType')} is not supported by the stand-in; use S3Prefix")
        self.s3_uri = source["S3Uri"]
        tin, tout = request["TransformInput"], request["TransformOutput"]
        self.content_type = tin.get("ContentType") or "application/octet-stream"
        self.split = tin.get("SplitType", "None")
        if self.split not in ("None", "Line"):
            raise TransformFailed(f"SplitType {self.split} is not supported by the stand-in; use Line or None")
        self.gzip = tin.get("CompressionType", "None") == "Gzip"
        self.accept = tout.get("Accept") or "*/*"
        self.assemble = tout.get("AssembleWith", "None")
        self.output_path = tout["S3OutputPath"]
        self.multi = request.get("BatchStrategy", "SingleRecord") == "MultiRecord"
        self.max_payload = int(request.get("MaxPayloadInMB", 6) or 6) * MB
        self.workers = max(1, int(request.get("MaxConcurrentTransforms", 1) or 1))
        processing = request.get("DataProcessing") or {}
        self.input_filter = processing.get("InputFilter") or "$"
        self.output_filter = processing.get("OutputFilter") or "$"
        self.join = processing.get("JoinSource", "None") == "Input"
        self.in_format = record_format(self.content_type)
        self.out_format = record_format(self.accept if self.accept != "*/*" else self.content_type)

    def run(self, state: JobState) -> None:
        self.state = state  # a stop request reaches the job through it
        try:
            spec = model_spec(self.clients.sagemaker, self.request["ModelName"], self.request.get("Environment"))
            self.model_url = self.runtime.hosts.url_for(spec, self.clients.s3)
        except ModelStartError as exc:
            raise TransformFailed(f"ClientError: {exc}") from None
        bucket = parse_s3_url(self.s3_uri, "S3Uri").bucket
        keys = object_keys(self.clients.s3, self.s3_uri)
        if not keys:
            raise TransformFailed(f"ClientError: no input objects under {self.s3_uri}")
        for key in keys:
            body = self.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            out = self.transform_object(gzip.decompress(body) if self.gzip else body, key)
            target = parse_s3_url(output_key(self.s3_uri, key, self.output_path), "S3OutputPath")
            self.clients.s3.put_object(Bucket=target.bucket, Key=target.key, Body=out)
            state.outputs.append(str(target))

    def transform_object(self, body: bytes, key: str) -> bytes:
        """One input object's output: its records sent in batches, answers split, joined, filtered."""
        if self.split == "None" and not self._filters:
            return self._assemble([self._call(body, key)])
        text = body.decode("utf-8")
        records = [text.rstrip("\n")] if self.split == "None" else [ln for ln in text.splitlines() if ln.strip()]
        try:
            inputs = [self._model_input(r) for r in records]
        except (jsonpath.FilterError, ValueError) as exc:
            raise TransformFailed(f"ClientError: InputFilter on {key}: {exc}") from None
        batches = self._batches(inputs)
        with ThreadPoolExecutor(self.workers) as pool:
            answers = list(pool.map(lambda b: self._call("".join(inputs[i] + "\n" for i in b).encode(), key), batches))
        if not self._filters:
            return self._assemble(answers)
        results: list[str] = []
        for batch, answer in zip(batches, answers, strict=True):
            out = answer.decode("utf-8")
            lines = [out.rstrip("\n")] if self.split == "None" else [ln for ln in out.splitlines() if ln.strip()]
            if len(lines) != len(batch):
                raise TransformFailed(f"ClientError: the model returned {len(lines)} records for {len(batch)} inputs "
                                      f"of {key}; joining and filtering need one output line per record")  # fmt: skip
            results.extend(self._output_record(records[i], line, key) for i, line in zip(batch, lines, strict=True))
        return self._assemble([r.encode() for r in results])

    def _assemble(self, parts: list[bytes]) -> bytes:
        """AssembleWith=Line: each part ends with a newline; None: concatenated as they are."""
        if self.assemble != "Line":
            return b"".join(parts)
        return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts)

    @property
    def _filters(self) -> bool:
        return self.join or self.input_filter.strip() != "$" or self.output_filter.strip() != "$"

    def _model_input(self, record: str) -> str:
        if self.input_filter.strip() == "$":
            return record
        return self.in_format.dump(jsonpath.apply(self.input_filter, self.in_format.parse(record)))

    def _batches(self, records: list[str]) -> list[list[int]]:
        """Record indexes per request: one each, or as many as fit in MaxPayloadInMB."""
        if not self.multi:
            return [[i] for i in range(len(records))]
        batches: list[list[int]] = []
        current: list[int] = []
        size = 0
        for i, record in enumerate(records):
            length = len(record.encode()) + 1
            if current and size + length > self.max_payload:
                batches.append(current)
                current, size = [], 0
            current.append(i)
            size += length
        return batches + ([current] if current else [])

    def _call(self, payload: bytes, key: str) -> bytes:
        if self.state.stop_requested:
            raise TransformStopped
        if len(payload) > self.max_payload:
            raise TransformFailed(f"ClientError: a record of {key} is larger than MaxPayloadInMB")
        status, out, _ = self.runtime.call_model(self.model_url, payload, self.content_type, self.accept)
        if not 200 <= status < 300:
            text = out.decode("utf-8", "replace")[:500]
            raise TransformFailed(f"ClientError: the model answered {status} for a request from {key}: {text}")
        return out

    def _output_record(self, record: str, output: str, key: str) -> str:
        # an answer in another format than the input is joined as one text value
        mixed = self.join and self.out_format.csv != self.in_format.csv
        out_value = output if mixed else self.out_format.parse(output)
        if self.join:
            source = self.in_format.parse(record)
            if self.in_format.csv:
                joined: Any = source + (out_value if isinstance(out_value, list) else [out_value])
            elif isinstance(source, dict):
                joined = {**source, "SageMakerOutput": out_value}
            else:
                joined = {"SageMakerInput": source, "SageMakerOutput": out_value}
            fmt = self.in_format
        else:
            joined, fmt = out_value, self.out_format
        try:
            return fmt.dump(jsonpath.apply(self.output_filter, joined))
        except jsonpath.FilterError as exc:
            raise TransformFailed(f"ClientError: OutputFilter on {key}: {exc}") from None


class TransformJobs(Tracked[JobState]):
    """Jobs started through the gateway, their states, and the patching of Describe/List answers."""

    def __init__(self, runtime: Any):
        super().__init__()
        self.runtime = runtime

    def start(self, request: dict[str, Any], clients: Any) -> None:
        state = JobState()
        self.launch(request["TransformJobName"], state, lambda: self._run(request, clients, state))

    def _run(self, request: dict[str, Any], clients: Any, state: JobState) -> None:
        try:
            TransformJob(request, clients, self.runtime).run(state)
            state.status = "Stopped" if state.stop_requested else "Completed"
        except TransformStopped:
            state.status = "Stopped"
        except TransformFailed as exc:
            state.status, state.failure_reason = "Failed", str(exc)[:1024]
        except Exception as exc:  # any other error fails the job with a reason, as SageMaker reports it
            state.status, state.failure_reason = "Failed", f"InternalServerError: {type(exc).__name__}: {exc}"[:1024]
        finally:
            state.ended = datetime.now(UTC)

    def stop(self, name: str) -> Reply | None:
        """StopTransformJob of a job run here (None: not one of ours, moto answers): `Stopping` until
        the job notices before its next model call, then `Stopped`; outputs written so far stay."""
        return stop_job(self.get(name), "Transform", name)

    def describe(self, response: dict[str, Any]) -> dict[str, Any]:
        """A DescribeTransformJob or ListTransformJobs answer with the real states of our jobs."""
        return self.patch(response, "TransformJobName", "TransformJobSummaries", lambda s: {
            "TransformJobStatus": s.status, "FailureReason": s.failure_reason,
            "TransformStartTime": s.started.timestamp(), "TransformEndTime": s.ended.timestamp() if s.ended else None})  # fmt: skip
