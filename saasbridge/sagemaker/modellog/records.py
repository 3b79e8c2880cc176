"""SageMaker descriptions → model-log records (the fields SageMaker owns; pure functions).

Nested values (containers, variants, metrics …) are JSON text with sorted keys, so the same
asset always gives the same record and an unchanged asset compares equal to what is stored.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from saasbridge.sagemaker.modellog.ids import console_url, record_id

# Environment variables whose values are secrets by their name; their values never reach the log.
_SECRET_NAME = re.compile(r"secret|password|passwd|token|credential|api_?key|private|access_?key", re.I)
REDACTED = "(redacted)"


def iso(value: datetime | None) -> str | None:
    """A timestamp as the reference API writes it back: UTC, milliseconds, `Z`."""
    if value is None:
        return None
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """A timestamp written by `iso` (or any ISO-8601 one with an offset or `Z`), as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def as_json(value: Any) -> str | None:
    return None if value in (None, [], {}) else json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def tag_map(tags: list[dict] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags or []}


def safe_environment(env: dict[str, str] | None) -> dict[str, str]:
    """The container environment with the values of secret-looking variables replaced."""
    return {k: REDACTED if _SECRET_NAME.search(k) else v for k, v in sorted((env or {}).items())}


def model_containers(desc: dict) -> list[dict]:
    containers = desc.get("Containers") or ([desc["PrimaryContainer"]] if desc.get("PrimaryContainer") else [])
    return [
        {
            "image": c.get("Image"),
            "model_data_url": c.get("ModelDataUrl"),
            "environment": safe_environment(c.get("Environment")),
            "mode": c.get("Mode"),
        }
        for c in containers
    ]


def artifact_urls(desc: dict) -> set[str]:
    """The model data URLs of a model (or of a model package's inference specification)."""
    spec = desc.get("InferenceSpecification") or {}
    containers = model_containers(desc) if "ModelArn" in desc else [
        {"model_data_url": c.get("ModelDataUrl")} for c in spec.get("Containers", [])
    ]
    return {c["model_data_url"] for c in containers if c.get("model_data_url")}


def stored_artifact_urls(record: dict) -> set[str]:
    """The model data URLs of a stored model record (its `containers` JSON)."""
    containers = json.loads(record.get("containers") or "[]")
    return {c["model_data_url"] for c in containers if c.get("model_data_url")}


def _base(arn: str, tags: dict[str, str] | None) -> dict:
    return {"id": record_id(arn), "arn": arn, "tags": tags, "console_url": console_url(arn), "deleted": False}


def model_record(
    desc: dict, tags: dict[str, str], *, training_job_arn: str | None, model_package_arn: str | None,
    endpoint_arns: list[str],
) -> dict:
    """A model's record; the importer adds its `lineage` ids and Model Card."""
    network = {"vpc_config": desc.get("VpcConfig"), "network_isolation": bool(desc.get("EnableNetworkIsolation"))}
    return {
        **_base(desc["ModelArn"], tags),
        "name": desc["ModelName"],
        "created_time": iso(desc.get("CreationTime")),
        "containers": as_json(model_containers(desc)),
        "execution_role_arn": desc.get("ExecutionRoleArn"),
        "network": as_json(network),
        "training_job_arn": training_job_arn,
        "model_package_arn": model_package_arn,
        "endpoint_arns": sorted(endpoint_arns),
    }


def lineage(training_job_arn: str | None, model_package_arn: str | None, endpoint_config_arns: list[str],
            endpoint_arns: list[str]) -> dict:
    """A model's links as the record ids of its job, package, configurations and endpoints (job →
    model → package → endpoint configuration → endpoint), for joins in the SaaS."""
    return {
        "training_job_id": record_id(training_job_arn) if training_job_arn else None,
        "model_package_id": record_id(model_package_arn) if model_package_arn else None,
        "endpoint_config_ids": sorted(map(record_id, endpoint_config_arns)),
        "endpoint_ids": sorted(map(record_id, endpoint_arns)),
    }


def model_card_summary(desc: dict) -> dict:
    """A Model Card (DescribeModelCard) as the model record keeps it: name, status, version, content."""
    content = desc.get("Content")
    try:
        parsed = json.loads(content) if isinstance(content, str) else content
    except ValueError:
        parsed = content  # kept as SageMaker holds it
    return {"name": desc.get("ModelCardName"), "arn": desc.get("ModelCardArn"), "status": desc.get("ModelCardStatus"),
            "version": desc.get("ModelCardVersion"), "console_url": console_url(desc.get("ModelCardArn") or ""),
            "content": parsed}  # fmt: skip


def card_model_ref(desc: dict) -> str | None:
    """The model a Model Card describes: its `model_overview.model_id` (an ARN) or `model_name`."""
    content = model_card_summary(desc)["content"]
    overview = (content or {}).get("model_overview") or {} if isinstance(content, dict) else {}
    return overview.get("model_id") or overview.get("model_name")


def default_version_record(model: dict) -> dict:
    """The version of a model that no endpoint configuration names yet: the model itself, deployable
    as it is (its id and ARN are the model's; `kind` tells it apart)."""
    return {
        **{k: model[k] for k in ("id", "arn", "tags", "console_url", "deleted", "name", "created_time")},
        "kind": "model", "model_arns": [model["arn"]], "variants": None,
        "package_group": None, "package_version": None, "approval_status": None,
        "inference_specification": None, "metrics": None, "metric_values": None, "custom_metadata": None,
    }  # fmt: skip


def variants(desc: dict, model_arns: dict[str, str]) -> list[dict]:
    """Production variants; `model_arns` maps model names to ARNs."""
    out = []
    for v in desc.get("ProductionVariants", []):
        out.append({
            "variant": v.get("VariantName"),
            "model": v.get("ModelName"),
            "model_arn": model_arns.get(v.get("ModelName", "")),
            "instance_type": v.get("InstanceType"),
            "instance_count": v.get("InitialInstanceCount", v.get("CurrentInstanceCount")),
            "weight": v.get("InitialVariantWeight", v.get("CurrentWeight")),
            "serverless": v.get("ServerlessConfig") or v.get("CurrentServerlessConfig"),
        })
    return out


def endpoint_config_record(desc: dict, tags: dict[str, str], model_arns: dict[str, str]) -> dict:
    vs = variants(desc, model_arns)
    return {
        **_base(desc["EndpointConfigArn"], tags),
        "kind": "endpoint_config",
        "name": desc["EndpointConfigName"],
        "created_time": iso(desc.get("CreationTime")),
        "model_arns": sorted({v["model_arn"] for v in vs if v["model_arn"]}),
        "variants": as_json(vs),
        "package_group": None, "package_version": None, "approval_status": None,
        "inference_specification": None, "metrics": None, "metric_values": None, "custom_metadata": None,
    }


def model_package_record(desc: dict, tags: dict[str, str], model_arns: list[str]) -> dict:
    arn = desc["ModelPackageArn"]
    return {
        **_base(arn, tags),
        "kind": "model_package",
        "name": arn.split(":", 5)[-1].partition("/")[2],  # group/version for a versioned package
        "created_time": iso(desc.get("CreationTime")),
        "model_arns": sorted(model_arns),
        "variants": None,
        "package_group": desc.get("ModelPackageGroupName"),
        "package_version": desc.get("ModelPackageVersion"),
        "approval_status": desc.get("ModelApprovalStatus"),
        "inference_specification": as_json(desc.get("InferenceSpecification")),
        "metrics": as_json(desc.get("ModelMetrics")),
        "metric_values": None,  # the reports' numbers: Inventory.metric_values reads them from S3
        "custom_metadata": desc.get("CustomerMetadataProperties") or None,
    }


def metric_reports(model_metrics: dict | None) -> dict[str, str]:
    """`ModelMetrics` of a package as report name (e.g. ModelQuality.Statistics) → its S3 URI."""
    out = {}
    for family, reports in (model_metrics or {}).items():
        for name, ref in (reports or {}).items():
            if isinstance(ref, dict) and ref.get("S3Uri"):
                out[f"{family}.{name}"] = ref["S3Uri"]
    return out


def flatten_numbers(value: Any, prefix: str = "") -> dict[str, float]:
    """The numbers of a JSON document by their dotted path (`binary_classification_metrics.recall.value`)."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, int | float):
        return {prefix: value}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    out: dict[str, float] = {}
    for key, inner in items:
        out.update(flatten_numbers(inner, f"{prefix}.{key}" if prefix else str(key)))
    return out


def endpoint_record(desc: dict, tags: dict[str, str], config_arn: str | None, model_arns: list[str]) -> dict:
    variants_now = [
        {
            "variant": v.get("VariantName"),
            "instance_count": v.get("CurrentInstanceCount"),
            "weight": v.get("CurrentWeight"),
            "serverless": v.get("CurrentServerlessConfig"),
        }
        for v in desc.get("ProductionVariants", [])
    ]
    return {
        **_base(desc["EndpointArn"], tags),
        "name": desc["EndpointName"],
        "status": desc.get("EndpointStatus"),
        "endpoint_config_arn": config_arn,
        "endpoint_config_id": record_id(config_arn) if config_arn else None,
        "model_arns": sorted(model_arns),
        "variants": as_json(variants_now),
        "created_time": iso(desc.get("CreationTime")),
        "last_modified_time": iso(desc.get("LastModifiedTime")),
        "failure_reason": desc.get("FailureReason") or None,
    }


def _duration(start: datetime | None, end: datetime | None) -> int | None:
    return None if start is None or end is None else int((end - start).total_seconds())


def _job_record(desc: dict, tags: dict[str, str] | None, kind: str, model_arn: str | None, *, prefix: str,
                input_urls: list[str], output_url: str | None, resources: dict) -> dict:
    start, end = desc.get(f"{prefix}StartTime"), desc.get(f"{prefix}EndTime")
    return {
        **_base(desc[f"{prefix}JobArn"], tags),
        "kind": kind,
        "name": desc[f"{prefix}JobName"],
        "model_arn": model_arn,
        "model_arns": [model_arn] if model_arn else [],
        "status": desc.get(f"{prefix}JobStatus"),
        "created_time": iso(desc.get("CreationTime")),
        "started_at": iso(start),
        "ended_at": iso(end),
        "duration_seconds": _duration(start, end),
        "input_urls": input_urls,
        "output_url": output_url,
        "instance_type": resources.get("InstanceType"),
        "instance_count": resources.get("InstanceCount"),
        "failure_reason": desc.get("FailureReason") or None,
    }


def training_job_record(desc: dict, tags: dict[str, str] | None, model_arn: str | None) -> dict:
    inputs = [
        ch["DataSource"]["S3DataSource"]["S3Uri"]
        for ch in desc.get("InputDataConfig", []) if "S3DataSource" in ch.get("DataSource", {})
    ]
    output = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts") or (desc.get("OutputDataConfig") or {}).get(
        "S3OutputPath")
    record = _job_record(desc, tags, "training", model_arn, prefix="Training", input_urls=inputs, output_url=output,
                         resources=desc.get("ResourceConfig") or {})
    final = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList") or [] if "MetricName" in m}
    return {**record, "metrics": as_json(final)}


def automl_job_record(desc: dict, model_arn: str | None, objective_values: dict[str, float]) -> dict:
    """An Autopilot job: `metrics` holds the objective, every candidate's value and the best candidate."""
    best = desc.get("BestCandidate") or {}
    objective = (desc.get("AutoMLJobObjective") or {}).get("MetricName") or (
        (desc.get("ResolvedAttributes") or {}).get("AutoMLJobObjective") or {}).get("MetricName")
    inputs = [c["DataSource"]["S3DataSource"]["S3Uri"] for c in desc.get("AutoMLJobInputDataConfig") or []]
    times = {"AutoMLStartTime": desc.get("CreationTime"), "AutoMLEndTime": desc.get("EndTime")}
    record = _job_record({**desc, **times}, None, "automl", model_arn,
                         prefix="AutoML", input_urls=inputs,
                         output_url=(desc.get("OutputDataConfig") or {}).get("S3OutputPath"), resources={})
    metrics = {"objective": objective, "best_candidate": best.get("CandidateName"), "candidates": objective_values}
    return {**record, "metrics": as_json(metrics)}


def automl_candidate_record(job: dict, candidate: dict, model_arn: str | None) -> dict:
    """One Autopilot candidate (its id from the job's ARN and its name: candidates have no ARN of their own)."""
    final = candidate.get("FinalAutoMLJobObjectiveMetric") or {}
    urls = [c["ModelDataUrl"] for c in candidate.get("InferenceContainers") or [] if c.get("ModelDataUrl")]
    start, end = candidate.get("CreationTime"), candidate.get("EndTime")
    return {
        **_base(f"{job['AutoMLJobArn']}/candidate/{candidate['CandidateName']}", None),
        "kind": "automl_candidate",
        "name": candidate["CandidateName"],
        "model_arn": model_arn,
        "model_arns": [model_arn] if model_arn else [],
        "status": candidate.get("CandidateStatus"),
        "created_time": iso(start), "started_at": iso(start), "ended_at": iso(end),
        "duration_seconds": _duration(start, end),
        "input_urls": [], "output_url": urls[-1] if urls else None,
        "instance_type": None, "instance_count": None,
        "failure_reason": candidate.get("FailureReason") or None,
        "metrics": as_json({final["MetricName"]: final["Value"]} if "MetricName" in final else None),
    }  # fmt: skip


def transform_job_record(desc: dict, tags: dict[str, str] | None, model_arn: str | None) -> dict:
    source = ((desc.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource") or {}
    return _job_record(desc, tags, "transform", model_arn, prefix="Transform",
                       input_urls=[source["S3Uri"]] if source.get("S3Uri") else [],
                       output_url=(desc.get("TransformOutput") or {}).get("S3OutputPath"),
                       resources=desc.get("TransformResources") or {})
