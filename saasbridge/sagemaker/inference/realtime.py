"""Real-time and serverless endpoints: InvokeEndpoint per batch, batches under the request limit
(6 MB, a serverless endpoint's 4 MB), a few in flight, throttling (a serverless endpoint's
concurrency limit included) retried by botocore; a failing batch fails only its rows, and a model
error is reported by its first line (the full text goes to the log)."""

from __future__ import annotations

from typing import Any

from saasbridge.errors import aws_error_line
from saasbridge.sagemaker.inference.base import BatchFailed, Scorer, call_failure
from saasbridge.sagemaker.inference.endpoint import EndpointInfo, runtime_client
from saasbridge.sagemaker.inference.payload import Batch, Prediction


class RealtimeScorer(Scorer):
    mode = "realtime"

    def __init__(self, session: Any, info: EndpointInfo, *, concurrency: int = 4):
        super().__init__()
        self.endpoint, self.model, self.content_type, self.accept = info.endpoint, info.model, info.content_type, info.accept
        self.max_payload_bytes = info.max_payload_bytes  # a serverless endpoint takes 4 MB, others 6 MB
        self.concurrency = concurrency
        self._client = runtime_client(session, concurrency=concurrency)

    def score(self, batch: Batch) -> list[Prediction]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.invoke_endpoint(
                EndpointName=self.endpoint, Body=batch.body, ContentType=self.content_type,
                Accept=self.accept_type,
            )  # fmt: skip
        except ClientError as exc:
            self.count_retries(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            raise BatchFailed(call_failure(exc, self.endpoint)) from None
        except BotoCoreError as exc:
            raise BatchFailed(f"InvokeEndpoint failed: {aws_error_line(exc)}") from None
        self.count_retries(answer.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        return self.parse(answer["Body"].read(), answer.get("ContentType"), batch)
