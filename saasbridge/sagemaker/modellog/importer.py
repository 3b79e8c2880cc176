"""Import one model, or sync every (tagged) model, into the SaaS model log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from saasbridge.errors import SaasBridgeError
from saasbridge.sagemaker.modellog import records as rec
from saasbridge.sagemaker.modellog.inventory import Inventory, ModelEntry, model_entry
from saasbridge.sagemaker.modellog.related import RelatedAssets
from saasbridge.sagemaker.modellog.writer import ModelLogWriter

MODEL_LOG_ENTITIES = ("models", "model_versions", "deployments", "ml_jobs")


class ModelNotFound(SaasBridgeError):
    """The model is not in SageMaker."""


@dataclass
class ModelLogResult:
    models: list[str] = field(default_factory=list)  # model ARNs imported
    written: dict[str, int] = field(default_factory=dict)  # entity → records written
    marked_deleted: dict[str, list[str]] = field(default_factory=dict)  # entity → record ids

    def summary(self) -> str:
        wrote = ", ".join(f"{n} {e}" for e, n in sorted(self.written.items()) if n) or "nothing (up to date)"
        gone = sum(len(v) for v in self.marked_deleted.values())
        return f"{len(self.models)} model(s); wrote {wrote}" + (f"; marked {gone} deleted" if gone else "")


def import_model(inventory: Inventory, writer: ModelLogWriter, name: str) -> ModelLogResult:
    """The model `name` and everything related to it, upserted; unchanged records are not written."""
    desc = inventory.describe_model(name)
    if desc is None:
        raise ModelNotFound(f"SageMaker has no model named {name!r} in {inventory.sm.region}; check the name and region")
    before = dict(writer.written)
    _log_models(RelatedAssets(inventory, desc), writer, [model_entry(desc)])
    return ModelLogResult([desc["ModelArn"]], _delta(before, writer.written))


def sync(
    inventory: Inventory, writer: ModelLogWriter, *, scope: str, tags: Mapping[str, str] | None = None
) -> ModelLogResult:
    """Every model (or those carrying all `tags`) with its related assets; what SageMaker no longer
    lists is marked deleted in the log, among the records whose ARN starts with `scope` (this
    account and region: a sync never marks another region's assets deleted)."""
    for entity in MODEL_LOG_ENTITIES:  # one listing each: compare without a request per record
        writer.all_records(entity)
    before = dict(writer.written)
    models = []
    summaries = sorted(inventory.model_summaries(), key=lambda s: s["ModelName"])
    for n, summary in enumerate(summaries, 1):
        entry = inventory.reused_model(summary)
        if tags and any((inventory.tags(summary["ModelArn"]) or {}).get(k) != v for k, v in tags.items()):
            continue
        entry = entry or inventory.described_model(summary["ModelName"])
        if entry is not None:
            models.append(entry)
        if n % 50 == 0:
            inventory.progress(f"read {n}/{len(summaries)} models…")
    _log_models(inventory, writer, models)
    present = {
        "models": {s["ModelArn"] for s in summaries},
        "ml_jobs": {r["arn"] for r in inventory.training_jobs() + inventory.transform_jobs()},
        "model_versions": {r["arn"] for r in inventory.endpoint_configs()}
        | {r["arn"] for r, _ in inventory.model_packages()} | {s["ModelArn"] for s in summaries},  # default versions
        "deployments": {r["arn"] for r in inventory.endpoints()},
    }
    gone = {entity: writer.mark_deleted(entity, arns, scope) for entity, arns in present.items()}
    result = ModelLogResult([record["arn"] for record, _urls in models], _delta(before, writer.written))
    result.marked_deleted = {e: ids for e, ids in gone.items() if ids}
    return result


def _log_models(inventory: Inventory, writer: ModelLogWriter, models: list[ModelEntry]) -> None:
    """Link each model to its related assets and write every record (models last: they link the rest)."""
    if not models:
        return
    artifacts = {record["arn"]: urls for record, urls in models}
    chosen = set(artifacts)

    def built_from(urls: set[str]) -> list[str]:  # the models of this run built from these artifacts
        return sorted(arn for arn in chosen if artifacts[arn] & urls)

    training = {}  # model ARN → its newest training job record
    for job in sorted(inventory.training_jobs(), key=lambda r: r["created_time"] or ""):
        built = built_from({job["output_url"]} if job["output_url"] else set())
        if built:
            training.update(dict.fromkeys(built, job))
            linked = _shared_links(writer, "ml_jobs", job["id"], built)
            _put(inventory, writer, "ml_jobs", {**job, "model_arn": linked[0], "model_arns": linked})
    for job in inventory.transform_jobs():
        if job["model_arn"] in chosen:
            _put(inventory, writer, "ml_jobs", job)

    configs = [c for c in inventory.endpoint_configs() if chosen & set(c["model_arns"])]
    for config in configs:
        _put(inventory, writer, "model_versions", config)
    config_arns = {c["arn"] for c in configs}
    endpoints = [e for e in inventory.endpoints() if e["endpoint_config_arn"] in config_arns]
    for endpoint in endpoints:
        _put(inventory, writer, "deployments", endpoint)

    packages: dict[str, dict] = {}  # model ARN → its newest package
    for package, urls in inventory.model_packages():
        built = built_from(urls)
        if not built:
            continue
        _put(inventory, writer, "model_versions",
             {**package, "model_arns": _shared_links(writer, "model_versions", package["id"], built)})
        for arn in built:
            if arn not in packages or (package["package_version"] or 0) > (packages[arn]["package_version"] or 0):
                packages[arn] = package

    for record, _urls in models:
        arn = record["arn"]
        links = {
            "training_job_arn": training[arn]["arn"] if arn in training else None,
            "model_package_arn": packages[arn]["arn"] if arn in packages else None,
            "endpoint_arns": sorted(e["arn"] for e in endpoints if arn in e["model_arns"]),
        }
        config_arns = [c["arn"] for c in configs if arn in c["model_arns"]]
        ids = rec.lineage(links["training_job_arn"], links["model_package_arn"], config_arns, links["endpoint_arns"])
        linked = {**record, **links, **ids,
                  "model_card": rec.as_json(inventory.model_card(arn, record["name"]))}  # fmt: skip
        if not config_arns:  # every imported model has a deployable version
            _put(inventory, writer, "model_versions", rec.default_version_record(linked))
        _put(inventory, writer, "models", linked)


def _shared_links(writer: ModelLogWriter, entity: str, record_id: str, models: list[str]) -> list[str]:
    """The models an asset several models share is linked to: those the SaaS already links and
    those of this run, sorted, so imports and syncs of different models add links and never take
    one another's away (the first is the asset's `model_arn`)."""
    stored = (writer.current(entity, record_id) or {}).get("model_arns") or []
    return sorted({*stored, *models})


def _put(inventory: Inventory, writer: ModelLogWriter, entity: str, record: dict) -> None:
    writer.put(entity, {**record, "tags": inventory.tags(record["arn"])})


def _delta(before: dict[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {e: n - before.get(e, 0) for e, n in after.items() if n - before.get(e, 0)}


def parse_since(text: str | None, what: str = "--since") -> datetime | None:
    """`--since` as an aware datetime (ISO-8601; a date or a time without offset is UTC)."""
    if not text:
        return None
    from datetime import UTC

    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SaasBridgeError(f"{what} {text!r} is not an ISO-8601 date or date-time (e.g. 2025-01-31T12:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
