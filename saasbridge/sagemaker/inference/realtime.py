"""Real-time (or serverless) endpoints: InvokeEndpoint per batch, batches under the 6 MB request
limit, a few in flight, throttling retried by botocore; a failing batch fails only its rows."""

from __future__ import annotations

from typing import Any

from saasbridge.errors import aws_error_line
from saasbridge.sagemaker.inference.base import BatchFailed, Scorer
from saasbridge.sagemaker.inference.endpoint import EndpointInfo, runtime_client
from saasbridge.sagemaker.inference.payload import Batch, Prediction


class RealtimeScorer(Scorer):
    mode = "realtime"

    def __init__(self, session: Any, info: EndpointInfo, *, concurrency: int = 4):
        super().__init__()
        self.endpoint, self.model, self.content_type = info.endpoint, info.model, info.content_type
        self.concurrency = concurrency
        self._client = runtime_client(session, concurrency=concurrency)

    def score(self, batch: Batch) -> list[Prediction]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.invoke_endpoint(
                EndpointName=self.endpoint, Body=batch.body, ContentType=self.content_type,
                Accept=self.content_type,
            )  # fmt: skip
        except ClientError as exc:
            self.count_retries(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            raise BatchFailed(aws_error_line(exc)) from None
        except BotoCoreError as exc:
            raise BatchFailed(f"InvokeEndpoint failed: {aws_error_line(exc)}") from None
        self.count_retries(answer.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        return self.parse(answer["Body"].read(), answer.get("ContentType"), batch)
