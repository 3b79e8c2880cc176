"""Training outcomes into the model log: a finished job's model is imported (the model, its training
job with its final metrics, everything related); a job that failed or stopped is recorded as such
and nothing else; an Autopilot job is recorded with every candidate and its objective value."""

from __future__ import annotations

from typing import Any

from saasbridge.sagemaker.modellog import ModelLog
from saasbridge.sagemaker.modellog import records as rec


def record_model(log: ModelLog, model_name: str) -> None:
    log.import_model(model_name)


def record_failed_training_job(log: ModelLog, described: dict[str, Any]) -> None:
    record = rec.training_job_record(described, None, None)
    log.writer.put("ml_jobs", {**record, "tags": log.inventory.tags(record["arn"])})


def record_automl_job(log: ModelLog, described: dict[str, Any], candidates: list[dict[str, Any]],
                      objective_values: dict[str, float], model_arn: str | None) -> None:  # fmt: skip
    """The Autopilot job and each candidate (the best one linked to the model created from it)."""
    best = (described.get("BestCandidate") or {}).get("CandidateName")
    for candidate in candidates:
        linked = model_arn if candidate["CandidateName"] == best else None
        log.writer.put("ml_jobs", rec.automl_candidate_record(described, candidate, linked))
    job = rec.automl_job_record(described, model_arn, objective_values)
    log.writer.put("ml_jobs", {**job, "tags": log.inventory.tags(job["arn"])})
