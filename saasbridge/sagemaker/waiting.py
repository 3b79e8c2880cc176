"""Waiting on SageMaker, by one rule.

SageMaker's own waiters (botocore's sagemaker waiters-2.json: EndpointInService,
TransformJobCompletedOrStopped, TrainingJobCompletedOrStopped) poll what they cover, at the caller's
interval for at most the caller's timeout; `poll_until` polls everything else (an S3 object, a
record in the SaaS) the same way.

The rule at the timeout: a wait never raises for it. What SageMaker can stop is stopped
(StopTransformJob, StopTrainingJob), because a job nobody waits for any more still bills its
instances; an endpoint cannot be stopped and is left as it is (deleting it would discard a
deployment that may still come up). The wait then answers the last description, whose status says
that it did not finish, and `Waited.timeout_note` says so in words.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from saasbridge.sagemaker.aws import AwsCallError, AwsService

T = TypeVar("T")


@dataclass(frozen=True)
class Resource:
    """What a SageMaker waiter waits on: how to describe it, its status field, how to stop it."""

    waiter: str
    describe: str
    name_param: str
    status_field: str
    finished: tuple[str, ...]
    stop: str | None = None


ENDPOINT = Resource("endpoint_in_service", "describe_endpoint", "EndpointName", "EndpointStatus", ("InService", "Failed"))
TRANSFORM_JOB = Resource("transform_job_completed_or_stopped", "describe_transform_job", "TransformJobName",
                         "TransformJobStatus", ("Completed", "Failed", "Stopped"), "stop_transform_job")  # fmt: skip
TRAINING_JOB = Resource("training_job_completed_or_stopped", "describe_training_job", "TrainingJobName",
                        "TrainingJobStatus", ("Completed", "Failed", "Stopped"), "stop_training_job")  # fmt: skip
# botocore has no waiter for AutoML jobs: `wait_for` describes at the interval itself.
AUTOML_JOB = Resource("", "describe_auto_ml_job_v2", "AutoMLJobName", "AutoMLJobStatus",
                      ("Completed", "Failed", "Stopped"), "stop_auto_ml_job")  # fmt: skip


@dataclass(frozen=True)
class Waited:
    description: dict[str, Any]  # the last Describe* answer (after the stop, when there was one)
    status: str  # when the wait ended: a finished status, or the one it was still in at the timeout
    timed_out: bool = False
    stopped: bool = False  # at the timeout, SageMaker accepted the stop
    stop_failure: str | None = None  # at the timeout, why the stop was refused

    def timeout_note(self, timeout: float) -> str:
        """`still InProgress after 600 s (stopped)`, for a wait that timed out."""
        note = f"still {self.status} after {timeout:.0f} s"
        if self.stop_failure:
            return f"{note} (stopping it failed: {self.stop_failure})"
        return f"{note} (stopped)" if self.stopped else note


def wait_for(sagemaker: Any, resource: Resource, name: str, *, timeout: float, poll: float) -> Waited:
    """Wait with SageMaker's waiter until `name` has finished or `timeout` seconds have passed, then
    apply the timeout rule above. `sagemaker`: a boto3 client or an AwsService around one; a failed
    call is an AwsCallError either way."""
    from botocore.exceptions import WaiterError

    service = sagemaker if isinstance(sagemaker, AwsService) else AwsService(sagemaker)
    params = {resource.name_param: name}
    poll, deadline = max(poll, 0.001), time.monotonic() + max(timeout, 0.0)
    waiter = service.client.get_waiter(resource.waiter) if resource.waiter else None
    while True:
        attempts = math.ceil(max(deadline - time.monotonic(), 0.0) / poll) + 1  # a first look, then one per interval
        with contextlib.suppress(WaiterError):  # a failure state, an error or the timeout: the description tells which
            if waiter is not None:
                waiter.wait(**params, WaiterConfig={"Delay": poll, "MaxAttempts": attempts})
        description = service.call(resource.describe, **params)
        status = description[resource.status_field]
        if status in resource.finished:
            return Waited(description, status)
        if time.monotonic() >= deadline:
            break
        time.sleep(poll)  # the waiter gave up early on an unexpected error (a throttled look): wait on
    if resource.stop is None:
        return Waited(description, status, timed_out=True)
    try:
        service.call(resource.stop, **params)
    except AwsCallError as exc:
        return Waited(description, status, timed_out=True, stop_failure=str(exc))
    return Waited(service.call(resource.describe, **params), status, timed_out=True, stopped=True)


def poll_until(check: Callable[[], T | None], *, timeout: float, poll: float,
               sleep: Callable[[float], None] = time.sleep) -> T | None:  # fmt: skip
    """`check()`'s first answer that is not None, looking every `poll` seconds; None when `timeout`
    seconds have passed (by the clock, or by the sleeps when `sleep` does not really sleep)."""
    start, slept = time.monotonic(), 0.0
    while True:
        found = check()
        if found is not None:
            return found
        elapsed = max(time.monotonic() - start, slept)
        if elapsed >= timeout:
            return None
        pause = min(poll, timeout - elapsed)
        sleep(pause)
        slept += pause
