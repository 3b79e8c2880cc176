"""The deployment's test: a batch transform on the recorded test data, compared with the recorded
expectations (line by line, cell by cell; numbers within a relative 1e-6)."""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass

from saasbridge.errors import SaasBridgeError
from saasbridge.s3url import parse_s3_url
from saasbridge.sagemaker.aws import AwsService
from saasbridge.sagemaker.waiting import TRANSFORM_JOB, wait_for


@dataclass(frozen=True)
class ModelTestRun:
    job_name: str
    model_name: str
    input_url: str
    expected_url: str
    output_url: str  # the S3 prefix the job writes `<input file>.out` under
    instance_type: str = "ml.m5.large"

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
                            "ContentType": "text/csv", "SplitType": "Line"},
            TransformOutput={"S3OutputPath": run.output_url, "AssembleWith": "Line"},
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
    got_lines, want_lines = _lines(got), _lines(expected)
    if len(got_lines) != len(want_lines):
        return f"{len(got_lines)} lines, expected {len(want_lines)}"
    for n, (a, b) in enumerate(zip(got_lines, want_lines, strict=True), 1):
        cells_a, cells_b = a.split(","), b.split(",")
        if len(cells_a) != len(cells_b) or not all(map(_same_cell, cells_a, cells_b)):
            return f"line {n}: {a[:80]!r}, expected {b[:80]!r}"
    return None


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _same_cell(a: str, b: str) -> bool:
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
