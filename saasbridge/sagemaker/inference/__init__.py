"""Inference from the SaaS: score an entity's rows and write the predictions back.

`predict(PredictOptions(...), scorer)` reads the rows through the AppFlow connector's extract
path, builds the model input from the feature columns, scores with any `Scorer` and writes one
prediction per row into the target entity (keyed, so a re-run does not duplicate). Scorers:
`RealtimeScorer` (InvokeEndpoint), `AsyncScorer` (InvokeEndpointAsync, S3), `TransformScorer`
(a batch transform job), `ScoringApiScorer` (the sealed HTTPS scoring API), and `load_scorer`
(an imported model scored in process: ONNX, or a trusted pickle).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PredictOptions": "run",
    "PredictResult": "run",
    "predict": "run",
    "Connection": "source",
    "Scorer": "base",
    "RealtimeScorer": "realtime",
    "AsyncScorer": "asynchronous",
    "TransformScorer": "transform",
    "ScoringApiScorer": "scoring_api",
    "describe_endpoint": "endpoint",
    "load_scorer": "in_process",
    "import_model": "archive",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
