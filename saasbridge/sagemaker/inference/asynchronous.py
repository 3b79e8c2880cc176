"""Asynchronous endpoints: each batch goes to S3, InvokeEndpointAsync queues it, and the output
(or failure) object SageMaker names in its answer is polled until one appears."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from saasbridge.errors import aws_error_code, aws_error_line
from saasbridge.s3url import parse_s3_url
from saasbridge.sagemaker.inference.base import BatchFailed, Scorer, first_line, log
from saasbridge.sagemaker.inference.endpoint import EndpointInfo, runtime_client
from saasbridge.sagemaker.inference.payload import JSON, JSON_LINES, Batch, Prediction
from saasbridge.sagemaker.waiting import poll_until

DEFAULT_TIMEOUT_SECONDS = 900.0


class AsyncScorer(Scorer):
    mode = "async"
    max_payload_bytes = 100 * 1024 * 1024  # an async input may be up to 1 GB; 100 MB keeps batches retryable

    def __init__(
        self, session: Any, info: EndpointInfo, s3_uri: str, *, concurrency: int = 4,
        poll_seconds: float = 1.0, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ):  # fmt: skip
        super().__init__()
        self.endpoint, self.model, self.content_type, self.accept = info.endpoint, info.model, info.content_type, info.accept
        self.concurrency = concurrency
        where = parse_s3_url(s3_uri, "--s3-uri")
        self._bucket, self._prefix = where.bucket, where.prefix
        self._run = uuid.uuid4().hex[:12]
        self._runtime = runtime_client(session, concurrency=concurrency)
        self._s3 = session.client("s3")
        self._poll, self._timeout, self._sleep = poll_seconds, timeout_seconds, sleep

    def score(self, batch: Batch) -> list[Prediction]:
        from botocore.exceptions import BotoCoreError, ClientError

        suffix = {JSON: "json", JSON_LINES: "jsonl"}.get(self.content_type, "csv")
        key = f"{self._prefix}/async-input/{self._run}/{batch.rows[0]:09d}.{suffix}".lstrip("/")
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=batch.body, ContentType=self.content_type)
            answer = self._runtime.invoke_endpoint_async(
                EndpointName=self.endpoint, InputLocation=f"s3://{self._bucket}/{key}",
                ContentType=self.content_type, Accept=self.accept_type,
            )  # fmt: skip
        except ClientError as exc:
            raise BatchFailed(aws_error_line(exc)) from None
        except BotoCoreError as exc:
            raise BatchFailed(f"InvokeEndpointAsync failed: {aws_error_line(exc)}") from None
        self.count_retries(answer.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        body = self._wait(answer["OutputLocation"], answer.get("FailureLocation"))
        return self.parse(body, self.accept_type, batch)

    def _wait(self, output: str, failure: str | None) -> bytes:
        """The output object's body once it exists; BatchFailed with the failure object's text. An
        async request cannot be stopped: at the timeout it is left to SageMaker."""
        found = poll_until(lambda: self._output_or_failure(output, failure), timeout=self._timeout, poll=self._poll,
                           sleep=self._sleep)  # fmt: skip
        if found is None:
            raise BatchFailed(f"no async output at {output} within {self._timeout:.0f} s")
        return found

    def _output_or_failure(self, output: str, failure: str | None) -> bytes | None:
        found = self._read(output)
        if found is None and failure:
            reason = self._read(failure)
            if reason is not None:
                text = reason.decode(errors="replace")
                log.warning("async inference failed (%s):\n%s", failure, text)
                raise BatchFailed(f"the async inference failed: {first_line(_message(text))}")
        return found

    def _read(self, uri: str) -> bytes | None:
        from botocore.exceptions import ClientError

        where = parse_s3_url(uri, "output location", need_key=True)
        try:
            return self._s3.get_object(Bucket=where.bucket, Key=where.key)["Body"].read()
        except ClientError as exc:
            if aws_error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise BatchFailed(f"cannot read {uri}: {aws_error_line(exc)}") from None


def _message(text: str) -> str:
    """The failure object's message: its `Message`/`OriginalMessage` when it is SageMaker's JSON."""
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return text
    return str(value.get("OriginalMessage") or value.get("Message") or text) if isinstance(value, dict) else text
