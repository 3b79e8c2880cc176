"""Training from the SaaS, end to end: channels from an entity's records, a SageMaker training job in
script mode (or an Autopilot job) on them, the model created from what it produced, and both written
into the model log.

    result = train(TrainOptions(entity="contacts", target="churned", features=["age", "visits"],
                                output="s3://ml/churn", role_arn=ROLE, script=ScriptJob("train.py"),
                                wait=True), aws_session, saas_client, appflow_session)
    print(result.summary())

Where things go: `<output>/<job>/input/{train,validation}/part-00000.csv`, the source tarball at
`<output>/<job>/source/sourcedir.tar.gz`, the job's artifacts at `<output>/<job>/output/`. The model
is named after the job. Without `wait` the job is started and its name returned; `finish(name, …)`
(`saasbridge train --attach NAME`) later follows it to its end, creates the model and logs both.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from saasbridge.client.client import SaasClient
from saasbridge.drivers.appflow import AppFlowSession
from saasbridge.errors import ConfigError, SaasBridgeError
from saasbridge.s3url import parse_s3_url
from saasbridge.sagemaker.aws import AwsService
from saasbridge.sagemaker.inference.source import entity_fields
from saasbridge.sagemaker.modellog import ModelLog
from saasbridge.sagemaker.training import autopilot as automl
from saasbridge.sagemaker.training import record, script_mode
from saasbridge.sagemaker.training.autopilot import AutopilotJob
from saasbridge.sagemaker.training.channels import (
    DEFAULT_VALIDATION_FRACTION,
    FEATURE_TYPES,
    Channels,
    ChannelSpec,
    build_channels,
    check_spec,
)
from saasbridge.sagemaker.training.script_mode import ScriptJob
from saasbridge.sagemaker.training.watch import watch_automl_job, watch_training_job
from saasbridge.sagemaker.waiting import Waited

Say = Callable[[str], None]
POLL_SECONDS = 5.0


class TrainingJobFailed(SaasBridgeError):
    """The job ended Failed or Stopped (it is recorded as such in the model log); `.result` says how."""

    def __init__(self, message: str, result: TrainResult):
        super().__init__(message)
        self.result = result


@dataclass
class TrainOptions:
    entity: str
    target: str
    features: list[str]  # empty: every numeric or boolean field but the target and the primary key
    output: str  # s3://bucket/prefix
    role_arn: str  # the IAM role SageMaker runs the job (and serves the model) with
    script: ScriptJob | None = None  # script mode; else `autopilot`
    autopilot: AutopilotJob | None = None
    where: str | None = None  # AppFlow's filter language
    wait: bool = False
    base_job_name: str | None = None  # default: the entity
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    timeout_seconds: float = 86400.0
    poll_seconds: float = POLL_SECONDS
    say: Say | None = None  # progress and log lines (default: stderr)

    def checked(self) -> TrainOptions:
        if (self.script is None) == (self.autopilot is None):
            raise ConfigError("train either with a script (--entry-point) or with --autopilot, not both or neither")
        parse_s3_url(self.output, "--output")
        if not self.role_arn:
            raise ConfigError("--execution-role: name the IAM role SageMaker runs the job with "
                              "(or set SAASBRIDGE_SAGEMAKER_EXECUTION_ROLE)")  # fmt: skip
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigError("--validation-fraction must be at least 0 and below 1")
        if self.script is not None:
            self.script.checked()
        if self.autopilot is not None:
            self.autopilot.checked()
        return self


@dataclass
class TrainResult:
    job_name: str
    kind: str  # training | automl
    status: str
    rows: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # final metrics, or candidate → objective value
    model_name: str | None = None
    model_arn: str | None = None
    best_candidate: str | None = None
    failure_reason: str | None = None

    def summary(self) -> str:
        lines = [f"job {self.job_name}: {self.status}"]
        if self.rows:
            lines.append(f"rows: {self.rows.get('train', 0)} train, {self.rows.get('validation', 0)} validation"
                         + (f", {self.rows['skipped_null_target']} without target (left out)"
                            if self.rows.get("skipped_null_target") else ""))  # fmt: skip
        for name, value in self.metrics.items():
            best = " (best)" if name == self.best_candidate else ""
            lines.append(f"metric {name} = {value:g}{best}")
        if self.model_name:
            lines.append(f"model {self.model_name}")
        return "\n".join(lines)


def read_channels(appflow: AppFlowSession, options: TrainOptions, *, header: bool) -> Channels:
    """The channels from the entity's records, read through the AppFlow session (DescribeEntity for
    the columns' types, QueryData with `where` and only the columns needed)."""
    fields, key = entity_fields(appflow, options.entity)
    features = options.features or [name for name, f in fields.items()
                                    if f.get("dataType") in FEATURE_TYPES and name not in (options.target, key)]  # fmt: skip
    check_spec(fields, options.entity, options.target, features)
    spec = ChannelSpec(options.entity, options.target, tuple(features), key, options.validation_fraction, header)
    wanted = list(dict.fromkeys([*([key] if key else []), *spec.columns]))
    return build_channels(appflow.records(options.entity, options.where, wanted), spec)


def train(options: TrainOptions, aws_session: Any, saas: SaasClient, appflow: AppFlowSession) -> TrainResult:
    """Run (or, without `wait`, start) the training the options describe; TrainingJobFailed when the job
    fails or stops (after recording it)."""
    options.checked()
    say = options.say or _stderr
    sm = AwsService(aws_session.client("sagemaker"))
    s3 = AwsService(aws_session.client("s3"))
    autopilot = options.autopilot is not None
    channels = read_channels(appflow, options, header=autopilot)
    name = script_mode.job_name(options.base_job_name or options.entity)
    base = f"{options.output.rstrip('/')}/{name}"
    inputs = {}
    for channel, body in channels.files.items():
        inputs[channel] = f"{base}/input/{channel}/"
        _put(s3, f"{inputs[channel]}part-00000.csv", body)
    say(f"{name}: channels {', '.join(f'{c} {channels.rows[c]} rows' for c in channels.files)} in {base}/input/")
    if autopilot:
        sm.call("create_auto_ml_job_v2", **automl.create_automl_job_request(
            options.autopilot, name=name, role_arn=options.role_arn, target=options.target, channels=inputs,
            output_url=options.output.rstrip("/")))  # fmt: skip
    else:
        _script(options, name, inputs, sm, s3)
    if not options.wait:
        return TrainResult(name, "automl" if autopilot else "training", "InProgress", dict(channels.rows))
    try:
        result = finish(name, aws_session, saas, timeout_seconds=options.timeout_seconds,
                        poll_seconds=options.poll_seconds, say=say)  # fmt: skip
    except TrainingJobFailed as exc:
        exc.result.rows = dict(channels.rows)
        raise
    result.rows = dict(channels.rows)
    return result


def _script(options: TrainOptions, name: str, inputs: dict[str, str], sm: AwsService, s3: AwsService) -> None:
    job = options.script
    assert job is not None
    source_url = f"{options.output.rstrip('/')}/{name}/source/sourcedir.tar.gz"
    _put(s3, source_url, script_mode.source_tarball(job))
    sm.call("create_training_job", **script_mode.create_training_job_request(
        job, name=name, role_arn=options.role_arn, region=sm.region, source_url=source_url, channels=inputs,
        output_url=options.output.rstrip("/")))  # fmt: skip


def finish(job_name: str, aws_session: Any, saas: SaasClient, *, timeout_seconds: float = 86400.0,
           poll_seconds: float = POLL_SECONDS, say: Say | None = None) -> TrainResult:  # fmt: skip
    """Follow a training or Autopilot job started earlier (`train` without `wait`) to its end, create
    the model from what it produced and write both into the model log, as `train` with `wait` does;
    TrainingJobFailed when it fails or stops (after recording it)."""
    say = say or _stderr
    sm = AwsService(aws_session.client("sagemaker"))
    if sm.call("describe_training_job", missing=True, TrainingJobName=job_name) is not None:
        logs = AwsService(aws_session.client("logs"))
        waited = watch_training_job(sm, logs, job_name, timeout=timeout_seconds, poll=poll_seconds, say=say)
        return _finish_training(waited, timeout_seconds, sm, ModelLog.open(aws_session, saas))
    if sm.call("describe_auto_ml_job_v2", missing=True, AutoMLJobName=job_name) is not None:
        waited = watch_automl_job(sm, job_name, timeout=timeout_seconds, poll=poll_seconds, say=say)
        return _finish_automl(waited, timeout_seconds, sm, ModelLog.open(aws_session, saas))
    raise ConfigError(f"SageMaker has no training or Autopilot job named {job_name!r} in {sm.region}; "
                      "check the name and region")  # fmt: skip


def _finish_training(waited: Waited, timeout: float, sm: AwsService, log: ModelLog) -> TrainResult:
    described = waited.description
    name = described["TrainingJobName"]
    result = TrainResult(name, "training", described["TrainingJobStatus"])
    result.metrics = {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList") or []}
    if result.status != "Completed":
        record.record_failed_training_job(log, described)
        result.failure_reason = described.get("FailureReason") or (waited.timeout_note(timeout) if waited.timed_out
                                                                   else None)  # fmt: skip
        raise TrainingJobFailed(f"training job {name} {result.status}: {result.failure_reason or 'no reason given'} "
                                "(recorded in the model log)", result)  # fmt: skip
    model = sm.call("create_model", **script_mode.model_request(described, name=name, region=sm.region))
    result.model_name, result.model_arn = name, model["ModelArn"]
    record.record_model(log, name)
    return result


def _finish_automl(waited: Waited, timeout: float, sm: AwsService, log: ModelLog) -> TrainResult:
    described = waited.description
    name = described["AutoMLJobName"]
    result = TrainResult(name, "automl", described["AutoMLJobStatus"])
    candidates = list(sm.pages("list_candidates_for_auto_ml_job", "Candidates", AutoMLJobName=name, MaxResults=100))
    result.metrics = automl.objective_values(candidates)
    best = described.get("BestCandidate")
    result.best_candidate = (best or {}).get("CandidateName")
    if result.status != "Completed" or not best:
        record.record_automl_job(log, described, candidates, result.metrics, None)
        result.failure_reason = described.get("FailureReason") or (
            waited.timeout_note(timeout) if waited.timed_out else "no best candidate")
        raise TrainingJobFailed(f"Autopilot job {name} {result.status}: {result.failure_reason} "
                                "(recorded in the model log)", result)  # fmt: skip
    model = sm.call("create_model", **automl.best_model_request(best, name=name, role_arn=described["RoleArn"]))
    result.model_name, result.model_arn = name, model["ModelArn"]
    record.record_model(log, name)
    record.record_automl_job(log, described, candidates, result.metrics, model["ModelArn"])
    return result


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _put(s3: AwsService, url: str, body: bytes) -> None:
    where = parse_s3_url(url, "the upload URL", need_key=True)
    s3.call("put_object", Bucket=where.bucket, Key=where.key, Body=body)
