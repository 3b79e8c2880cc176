"""The interface every way of scoring implements: batches of encoded rows in, one prediction per
row (or one failure reason for the whole batch) out."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from saasbridge.errors import SaasBridgeError
from saasbridge.sagemaker.inference.payload import (
    CSV,
    Batch,
    Prediction,
    PredictionFormatError,
    parse_predictions,
)

Outcome = list[Prediction] | str  # predictions in row order, or why the batch failed


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
    content_type: str = CSV
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
            return parse_predictions(body, content_type, len(batch.rows))
        except PredictionFormatError as exc:
            raise BatchFailed(f"unreadable model answer: {exc}") from None

    def close(self) -> None:
        """Release what the scorer holds (clients, temporary objects)."""
