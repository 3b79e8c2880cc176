"""Watching a job to its end: a progress line per status change and the job's log lines as they
arrive (CloudWatch Logs, group `/aws/sagemaker/TrainingJobs`, streams `<job>/…`), by the waiting
rule of `saasbridge.sagemaker.waiting` (a job still running at the timeout is stopped)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from saasbridge.sagemaker.aws import AwsService
from saasbridge.sagemaker.waiting import AUTOML_JOB, TRAINING_JOB, Resource, Waited, poll_until, wait_for

Say = Callable[[str], None]
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"


@dataclass
class LogTail:
    """New log lines of a job's streams since the last look; a log not there yet gives none."""

    logs: AwsService
    group: str
    job_name: str
    tokens: dict[str, str | None] = field(default_factory=dict)

    def new_lines(self) -> list[str]:
        answer = self.logs.call("describe_log_streams", missing=True, logGroupName=self.group,
                                logStreamNamePrefix=f"{self.job_name}/")  # fmt: skip
        lines: list[str] = []
        for stream in sorted(s["logStreamName"] for s in (answer or {}).get("logStreams", [])):
            while True:
                params: dict[str, Any] = {"logGroupName": self.group, "logStreamName": stream, "startFromHead": True}
                if self.tokens.get(stream):
                    params["nextToken"] = self.tokens[stream]
                page = self.logs.call("get_log_events", **params)
                lines += [e["message"] for e in page.get("events", [])]
                token = page.get("nextForwardToken")
                done = token == self.tokens.get(stream) or not page.get("events")
                self.tokens[stream] = token
                if done:
                    break
        return lines


def watch_training_job(sm: AwsService, logs: AwsService | None, name: str, *, timeout: float, poll: float,
                       say: Say) -> Waited:  # fmt: skip
    """Wait for the training job, saying each new secondary status and log line."""
    tail = LogTail(logs, TRAINING_LOG_GROUP, name) if logs is not None else None
    seen: list[int] = [0]

    def look() -> dict[str, Any] | None:
        described = sm.call("describe_training_job", TrainingJobName=name)
        transitions = described.get("SecondaryStatusTransitions") or []
        for transition in transitions[seen[0]:]:
            say(f"{name}: {transition['Status']} - {transition.get('StatusMessage', '')}".rstrip(" -"))
        seen[0] = len(transitions)
        if tail is not None:
            for line in tail.new_lines():
                say(f"  | {line}")
        return described if described[TRAINING_JOB.status_field] in TRAINING_JOB.finished else None

    return _finish(sm, TRAINING_JOB, name, poll_until(look, timeout=timeout, poll=poll), poll)


def watch_automl_job(sm: AwsService, name: str, *, timeout: float, poll: float, say: Say) -> Waited:
    """Wait for the Autopilot job, saying each new secondary status and candidate count."""
    last: list[tuple[str, int]] = [("", -1)]

    def look() -> dict[str, Any] | None:
        described = sm.call("describe_auto_ml_job_v2", AutoMLJobName=name)
        count = len(sm.call("list_candidates_for_auto_ml_job", AutoMLJobName=name, MaxResults=100)["Candidates"])
        now = (described["AutoMLJobSecondaryStatus"], count)
        if now != last[0]:
            say(f"{name}: {now[0]}, {count} candidate(s)")
            last[0] = now
        return described if described[AUTOML_JOB.status_field] in AUTOML_JOB.finished else None

    return _finish(sm, AUTOML_JOB, name, poll_until(look, timeout=timeout, poll=poll), poll)


def _finish(sm: AwsService, resource: Resource, name: str, described: dict[str, Any] | None, poll: float) -> Waited:
    """The finished job's description, or at the timeout the waiting rule's answer (the job stopped)."""
    if described is not None:
        return Waited(described, described[resource.status_field])
    return wait_for(sm, resource, name, timeout=0, poll=poll)
