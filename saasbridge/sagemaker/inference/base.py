"""The interface every way of scoring implements: batches of encoded rows in, one prediction per
row (or one failure reason for the whole batch) out."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from saasbridge.errors import SaasBridgeError, aws_error_code, aws_error_line
from saasbridge.sagemaker.inference.payload import (
    CSV,
    Batch,
    OutputSpec,
    Prediction,
    PredictionFormatError,
    parse_predictions,
)

Outcome = list[Prediction] | str  # predictions in row order, or why the batch failed
log = logging.getLogger("saasbridge.predict")


def first_line(text: str, limit: int = 200) -> str:
    """The first non-empty line of a (model's) error text, at most `limit` characters."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line[:limit] + ("…" if len(line) > limit else "")


def call_failure(exc: BaseException, endpoint: str | None) -> str:
    """The one-line reason of a failed runtime call; for a model error, the model's own first line
    (what SageMaker relays of the container's answer), the full text going to the log."""
    if aws_error_code(exc) != "ModelError":
        return aws_error_line(exc)
    response = getattr(exc, "response", {}) or {}
    original = str(response.get("OriginalMessage") or (response.get("Error") or {}).get("Message") or "")
    log.warning("model error from endpoint %s (HTTP %s):\n%s", endpoint, response.get("OriginalStatusCode"), original)
    status = response.get("OriginalStatusCode")
    return f"ModelError: the model answered{f' HTTP {status}' if status else ''}: {first_line(original)}"


class BatchFailed(SaasBridgeError):
    """One batch could not be scored (a model error, a malformed answer, retries spent); the
    message is the reason recorded for each of its rows."""


class Scorer:
    """Scores batches. Subclasses implement `score(batch)` (one request); `score_all` runs them
    with bounded concurrency. `model` and `endpoint` name what produced the predictions."""

    mode = "scorer"
    model: str = ""
    endpoint: str | None = None
    version: str | None = None  # the model version serving (saasbridge.sagemaker.inference.version)
    content_type: str = CSV  # the request body's type
    accept: str | None = None  # the answer's type asked for (None: the same as content_type)
    output = OutputSpec()  # where the score is in the answer
    max_payload_bytes: int | None = None  # None: the payload module's default
    max_rows: int | None = None  # rows per request the model takes at most (None: --max-rows-per-request)
    concurrency: int = 4

    def __init__(self) -> None:
        self.retries = 0  # throttled or transient requests sent again
        self._lock = threading.Lock()

    def on_status(self, note: str) -> None:
        """What a long step is doing (the run shows it in its progress display); replaced by the run."""

    def count_retries(self, n: int) -> None:
        with self._lock:
            self.retries += n

    def check_input(self) -> None:
        """Raise ConfigError when this scorer cannot take `content_type` input (before any row is read)."""

    def score(self, batch: Batch) -> list[Prediction]:
        raise NotImplementedError

    def score_all(self, batches: Iterable[Batch]) -> Iterator[tuple[Batch, Outcome]]:
        """Every batch with its outcome, as they finish; at most `concurrency` in flight."""
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            pending: dict[Future, Batch] = {}
            source = iter(batches)
            while True:
                while len(pending) < max(1, self.concurrency) * 2:
                    batch = next(source, None)
                    if batch is None:
                        break
                    pending[pool.submit(self._outcome, batch)] = batch
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()

    def _outcome(self, batch: Batch) -> Outcome:
        try:
            return self.score(batch)
        except (BatchFailed, PredictionFormatError) as exc:
            return str(exc)

    def parse(self, body: bytes, content_type: str | None, batch: Batch) -> list[Prediction]:
        try:
            return parse_predictions(body, content_type or self.accept_type, len(batch.rows), self.output)
        except PredictionFormatError as exc:
            raise BatchFailed(f"unreadable model answer: {exc}") from None

    @property
    def accept_type(self) -> str:
        return self.accept or self.content_type

    def close(self) -> None:
        """Release what the scorer holds (clients, temporary objects)."""
