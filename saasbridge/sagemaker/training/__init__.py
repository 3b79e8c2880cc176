"""Training from the SaaS: `train(TrainOptions(...), aws_session, saas_client, appflow_session)` extracts
the training channels of an entity, runs a SageMaker training job in script mode (`ScriptJob`) or an
Autopilot job (`AutopilotJob`) on them, creates the model from the result and writes job and model
into the model log (see run.py). `saasbridge train` is a thin layer over it."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainOptions": "run",
    "TrainResult": "run",
    "TrainingJobFailed": "run",
    "train": "run",
    "finish": "run",
    "read_channels": "run",
    "ScriptJob": "script_mode",
    "AutopilotJob": "autopilot",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
