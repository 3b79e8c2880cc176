"""A job's log in CloudWatch Logs, where SageMaker writes it: group `/aws/sagemaker/TrainingJobs` (or
`…/AutoMLJobs`), stream `<job name>/algo-1-<epoch seconds>`, so `logs.get_log_events` (and the
SageMaker Python SDK's `logs=True`) read it as they read a real job's.

Lines are buffered and sent in batches (`flush`), from any thread."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
BATCH_EVENTS = 500


class JobLog:
    def __init__(self, logs: Any, group: str, job_name: str):
        self.logs = logs
        self.group = group
        self.stream = f"{job_name}/algo-1-{int(time.time())}"
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=self.stream)

    def write(self, line: str) -> None:
        with self._lock:
            self._pending.append({"timestamp": int(time.time() * 1000), "message": line.rstrip("\n")})

    def flush(self) -> None:
        with self._send_lock:
            with self._lock:
                events, self._pending = self._pending, []
            for start in range(0, len(events), BATCH_EVENTS):
                self.logs.put_log_events(logGroupName=self.group, logStreamName=self.stream,
                                         logEvents=events[start : start + BATCH_EVENTS])  # fmt: skip
