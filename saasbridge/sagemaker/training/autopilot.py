"""An Autopilot (AutoML V2, tabular) job on the training channels, with plain boto3 requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saasbridge.errors import ConfigError

PROBLEM_TYPES = ("BinaryClassification", "MulticlassClassification", "Regression")
OBJECTIVES = ("Accuracy", "BalancedAccuracy", "F1", "F1macro", "AUC", "Precision", "PrecisionMacro", "Recall",
              "RecallMacro", "MSE", "RMSE", "MAE", "R2")  # fmt: skip
CSV_WITH_HEADER = "text/csv;header=present"


@dataclass(frozen=True)
class AutopilotJob:
    problem_type: str | None = None  # None: Autopilot infers it from the target
    objective: str | None = None  # None: Autopilot's default for the problem type
    max_candidates: int | None = None

    def checked(self) -> AutopilotJob:
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ConfigError(f"--problem-type {self.problem_type}: use {', '.join(PROBLEM_TYPES)}")
        if self.objective is not None and self.objective not in OBJECTIVES:
            raise ConfigError(f"--objective {self.objective}: use one of {', '.join(OBJECTIVES)}")
        if self.max_candidates is not None and self.max_candidates < 1:
            raise ConfigError("--max-candidates must be at least 1")
        return self


def create_automl_job_request(job: AutopilotJob, *, name: str, role_arn: str, target: str,
                              channels: dict[str, str], output_url: str) -> dict[str, Any]:  # fmt: skip
    """CreateAutoMLJobV2's parameters; `channels`: train/validation → S3 prefix of CSV with a header."""
    tabular: dict[str, Any] = {"TargetAttributeName": target}
    if job.problem_type:
        tabular["ProblemType"] = job.problem_type
    if job.max_candidates:
        tabular["CompletionCriteria"] = {"MaxCandidates": job.max_candidates}
    request: dict[str, Any] = {
        "AutoMLJobName": name,
        "RoleArn": role_arn,
        "AutoMLJobInputDataConfig": [{
            "ChannelType": "training" if channel == "train" else "validation", "ContentType": CSV_WITH_HEADER,
            "CompressionType": "None", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": url}},
        } for channel, url in sorted(channels.items())],
        "OutputDataConfig": {"S3OutputPath": output_url},
        "AutoMLProblemTypeConfig": {"TabularJobConfig": tabular},
    }  # fmt: skip
    if job.objective:
        request["AutoMLJobObjective"] = {"MetricName": job.objective}
    return request


def best_model_request(best: dict[str, Any], *, name: str, role_arn: str) -> dict[str, Any]:
    """CreateModel's parameters for the best candidate (its inference containers, in order)."""
    containers = [{k: c[k] for k in ("Image", "ModelDataUrl", "Environment") if k in c}
                  for c in best.get("InferenceContainers") or []]  # fmt: skip
    if not containers:
        raise ConfigError(f"the best candidate {best.get('CandidateName')} has no inference containers to serve")
    request: dict[str, Any] = {"ModelName": name, "ExecutionRoleArn": role_arn}
    if len(containers) == 1:
        request["PrimaryContainer"] = containers[0]
    else:
        request["Containers"] = containers
    return request


def objective_values(candidates: list[dict[str, Any]]) -> dict[str, float]:
    """Candidate name → its final objective value (candidates without one left out)."""
    return {c["CandidateName"]: float(c["FinalAutoMLJobObjectiveMetric"]["Value"])
            for c in candidates if (c.get("FinalAutoMLJobObjectiveMetric") or {}).get("Value") is not None}  # fmt: skip
