"""Training from the SaaS: `train(TrainOptions(...), aws_session, saas_client, appflow_session)` extracts
the training channels of an entity, runs a SageMaker training job in script mode (`ScriptJob`) or an
Autopilot job (`AutopilotJob`) on them, creates the model from the result and writes job and model
into the model log; `finish(job_name, …)` does the second half for a job started without waiting
(see run.py). `saasbridge train` is a thin layer over it."""

from saasbridge.sagemaker.training.autopilot import AutopilotJob
from saasbridge.sagemaker.training.run import (
           TrainingJobFailed,
           TrainOptions,
           TrainResult,
           finish,
           read_channels,
           train,
)
from saasbridge.sagemaker.training.script_mode import ScriptJob

__all__ = ["AutopilotJob", "ScriptJob", "TrainOptions", "TrainResult", "TrainingJobFailed", "finish", "read_channels",
           "train"]  # fmt: skip
