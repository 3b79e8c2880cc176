"""The deployment's test: a batch transform on the recorded test data, asking for the output format
the model records (Accept), compared with the recorded expectations record by record, value by value
(numbers within a relative 1e-6). Output and expectations may each be CSV, JSON Lines or one JSON
document (a list, or an object holding one list such as `{"predictions": [...]}`)."""

from __future__ import annotations

import json
import math
import posixpath
from dataclasses import dataclass

from saasbridge.errors import SaasBridgeError
from saasbridge.s3url import parse_s3_url
from saasbridge.sagemaker.aws import AwsService
from saasbridge.sagemaker.waiting import TRANSFORM_JOB, wait_for

CSV = "text/csv"


@dataclass(frozen=True)
class ModelTestRun:
    job_name: str
    model_name: str
    input_url: str
    expected_url: str
    output_url: str  # the S3 prefix the job writes `<input file>.out` under
    instance_type: str = "ml.m5.large"
    content_type: str = CSV  # of the test data
    accept: str = CSV  # the output format asked of the model

    @property
    def output_object(self) -> str:
        return self.output_url.rstrip("/") + "/" + parse_s3_url(self.input_url, "the test data").name + ".out"


def default_output_url(input_url: str, job_name: str) -> str:
    return f"{posixpath.dirname(input_url.rstrip('/'))}/saasbridge-test-output/{job_name}/"


def run_test(sm: AwsService, s3: AwsService, run: ModelTestRun, *, timeout: float = 3600,
             poll: float = 10) -> tuple[str, str | None]:
    """(job ARN, why the test failed or None). Starts the job once: a re-run finds it by name; a job
    still running at the timeout is stopped (saasbridge.sagemaker.waiting)."""
    job = sm.call("describe_transform_job", missing=True, TransformJobName=run.job_name)
    if job is None:
        sm.call(
            "create_transform_job", TransformJobName=run.job_name, ModelName=run.model_name,
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": run.input_url}},
                            "ContentType": run.content_type, "SplitType": "Line"},
            TransformOutput={"S3OutputPath": run.output_url, "AssembleWith": "Line", "Accept": run.accept},
            TransformResources={"InstanceType": run.instance_type, "InstanceCount": 1},
            Tags=[{"Key": "saasbridge:purpose", "Value": "deployment-test"}],
        )
    waited = wait_for(sm, TRANSFORM_JOB, run.job_name, timeout=timeout, poll=poll)
    arn = waited.description["TransformJobArn"]
    if waited.timed_out:
        return arn, f"test transform job {run.job_name} {waited.timeout_note(timeout)}"
    if waited.status != "Completed":
        reason = waited.description.get("FailureReason")
        return arn, f"test transform job {run.job_name} {waited.status}" + (f": {reason}" if reason else "")
    got = _read(s3, run.output_object)
    if got is None:
        return arn, f"test transform job {run.job_name} wrote no output at {run.output_object}"
    expected = _read(s3, run.expected_url)
    if expected is None:
        raise SaasBridgeError(f"the recorded expectations {run.expected_url} do not exist; fix test_expected_url")
    problem = compare_output(got, expected)
    return arn, None if problem is None else f"test output differs from the expectations: {problem}"


def compare_output(got: str, expected: str) -> str | None:
    """Why the transform output differs from the expectations, or None when it matches."""
    got_rows, want_rows = output_records(got), output_records(expected)
    if len(got_rows) != len(want_rows):
        return f"{len(got_rows)} records, expected {len(want_rows)}"
    for n, (a, b) in enumerate(zip(got_rows, want_rows, strict=True), 1):
        if len(a) != len(b) or not all(map(_same_value, a, b)):
            return f"record {n}: {_show(a)}, expected {_show(b)}"
    return None


def output_records(text: str) -> list[list[str]]:
    """The records of a transform output or expectation file, each as its values (as text): one
    JSON document (a list, or an object with a single list), JSON Lines, else CSV lines."""
    stripped = text.strip()
    if not stripped:
        return []
    if stripped[0] in "[{":
        try:
            document = json.loads(stripped)
        except ValueError:
            document = None  # JSON Lines, or CSV starting with a bracket
        if document is not None:
            return [_values(r) for r in _record_list(document)]
        try:
            return [_values(json.loads(line)) for line in _lines(text)]
        except ValueError:
            pass
    return [line.split(",") for line in _lines(text)]


def _record_list(document: object) -> list:
    if isinstance(document, dict):
        lists = [v for v in document.values() if isinstance(v, list)]
        return lists[0] if len(lists) == 1 else [document]
    return document if isinstance(document, list) else [document]


def _values(record: object) -> list[str]:
    """A JSON record's values in a stable order (an object's by key), nested lists flattened."""
    if isinstance(record, dict):
        return [v for _, inner in sorted(record.items()) for v in _values(inner)]
    if isinstance(record, list):
        return [v for inner in record for v in _values(inner)]
    return [json.dumps(record) if not isinstance(record, str) else record]


def _show(values: list[str]) -> str:
    return repr(",".join(values)[:80])


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _same_value(a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    except ValueError:
        return False


def _read(s3: AwsService, url: str) -> str | None:
    where = parse_s3_url(url, "the test's S3 object", need_key=True)
    answer = s3.call("get_object", missing=True, Bucket=where.bucket, Key=where.key)
    return None if answer is None else answer["Body"].read().decode("utf-8", errors="replace")
