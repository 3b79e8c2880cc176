"""What the SageMaker account holds, read lazily, once per run, as model-log records.

A full run describes every asset. With `since` (an incremental sync) an asset whose record the
SaaS already holds is described again only when it may have changed since then: jobs and
endpoints modified since (their listings carry a last-modified time), models and endpoint
configurations created since (SageMaker never changes them once created). Otherwise its stored
record and tags are reused, so an incremental run describes and writes only what changed. Model
packages change their approval status in place and their listing has no modified time: they are
described on every run. A change of tags alone is picked up by the next full run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from saasbridge.errors import SaasBridgeError
from saasbridge.s3url import parse_s3_url
from saasbridge.sagemaker.aws import AwsCallError, AwsService
from saasbridge.sagemaker.modellog import records as rec
from saasbridge.sagemaker.modellog.ids import record_id

Known = Callable[[str, str], "dict | None"]  # (entity, record id) → the SaaS's record or None
Progress = Callable[[str], None]
ModelEntry = tuple[dict, set[str]]  # a model's record (links not yet set) and its artifact URLs
SYSTEM_FIELDS = ("created_at", "updated_at")


class Inventory:
    def __init__(self, sm: AwsService, *, since: datetime | None = None, known: Known | None = None,
                 progress: Progress | None = None, s3: AwsService | None = None):
        self.sm = sm
        self.s3 = s3  # reads the Model Registry's metric reports; None: they are not read
        self.since = since
        self.known = known or (lambda _entity, _id: None)
        self.progress = progress or (lambda _msg: None)
        self._cache: dict[str, Any] = {}
        self._tags: dict[str, dict[str, str] | None] = {}
        self.described = 0  # describe calls made (incremental runs make fewer)

    def _once(self, key: str, load: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    def _listing(self, operation: str) -> dict[str, Any]:
        """Server-side filters of a listing operation (none: the whole account)."""
        return {}

    # -- models --------------------------------------------------------------------------------

    def model_summaries(self) -> list[dict]:
        """Every model's listing entry (name, ARN, creation time)."""
        return self._once("models", lambda: list(self.sm.pages("list_models", "Models", MaxResults=100)))

    def model_arns(self) -> dict[str, str]:
        """Every model's name → ARN."""
        return self._once("model_arns", lambda: {m["ModelName"]: m["ModelArn"] for m in self.model_summaries()})

    def describe_model(self, name: str) -> dict | None:
        self.described += 1
        return self.sm.call("describe_model", missing=True, ModelName=name)

    def reused_model(self, summary: dict) -> ModelEntry | None:
        """The stored entry of a model the SaaS holds and that was created before `since`."""
        stored = self._unchanged("models", summary["ModelArn"], summary.get("CreationTime"))
        return None if stored is None else (stored, rec.stored_artifact_urls(stored))

    def described_model(self, name: str) -> ModelEntry | None:
        desc = self.describe_model(name)
        return None if desc is None else model_entry(desc)

    def tags(self, arn: str) -> dict[str, str] | None:
        """The asset's tags; None (unknown, and said so) when the service fails to answer."""
        if arn not in self._tags:
            try:
                self._tags[arn] = rec.tag_map(list(self.sm.pages("list_tags", "Tags", ResourceArn=arn, MaxResults=100)))
            except AwsCallError as exc:
                if not exc.server_side:
                    raise
                self.progress(f"warning: tags of {arn} unreadable ({exc}); recorded as unknown (null)")
                self._tags[arn] = None
        return self._tags[arn]

    # -- related assets (model-agnostic records; the importer links them) ------------------------

    def training_jobs(self) -> list[dict]:
        return self._once("training", lambda: self._jobs(
            "list_training_jobs", "TrainingJobSummaries", "TrainingJobArn", "ml_jobs",
            lambda s: rec.training_job_record(
                self._describe("describe_training_job", TrainingJobName=s["TrainingJobName"]), {}, None),
            "training jobs",
        ))

    def transform_jobs(self) -> list[dict]:
        def build(summary: dict) -> dict:
            desc = self._describe("describe_transform_job", TransformJobName=summary["TransformJobName"])
            return rec.transform_job_record(desc, {}, self.model_arns().get(desc.get("ModelName", "")))

        return self._once("transform", lambda: self._jobs(
            "list_transform_jobs", "TransformJobSummaries", "TransformJobArn", "ml_jobs", build, "transform jobs"))

    def variant_models(self, config: dict) -> dict[str, str]:
        """Model name → ARN for the variants of an endpoint configuration's description."""
        return self.model_arns()

    def endpoint_configs(self) -> list[dict]:
        def load() -> list[dict]:
            out = []
            for s in self.sm.pages("list_endpoint_configs", "EndpointConfigs", MaxResults=100,
                                   **self._listing("list_endpoint_configs")):
                stored = self._unchanged("model_versions", s["EndpointConfigArn"], s.get("CreationTime"))
                if stored is not None:
                    out.append(stored)
                    continue
                desc = self._describe("describe_endpoint_config", missing=True, EndpointConfigName=s["EndpointConfigName"])
                if desc is not None:
                    out.append(rec.endpoint_config_record(desc, {}, self.variant_models(desc)))
            self.progress(f"read {len(out)} endpoint configurations")
            return out

        return self._once("configs", load)

    def endpoints(self) -> list[dict]:
        def build(summary: dict) -> dict:
            desc = self._describe("describe_endpoint", EndpointName=summary["EndpointName"])
            config = configs.get(desc.get("EndpointConfigName", ""))
            return rec.endpoint_record(desc, {}, config["arn"] if config else None, config["model_arns"] if config else [])

        configs = {c["name"]: c for c in self.endpoint_configs()}
        return self._once("endpoints", lambda: self._jobs(
            "list_endpoints", "Endpoints", "EndpointArn", "deployments", build, "endpoints"))

    def model_packages(self) -> list[tuple[dict, set[str]]]:
        """(record without model links, its artifact URLs) per versioned model package."""
        def load() -> list[tuple[dict, set[str]]]:
            out = []
            for s in self.sm.pages("list_model_packages", "ModelPackageSummaryList", MaxResults=100,
                                   ModelPackageType="Versioned", **self._listing("list_model_packages")):
                desc = self._describe("describe_model_package", missing=True, ModelPackageName=s["ModelPackageArn"])
                if desc is not None:
                    record = rec.model_package_record(desc, {}, [])
                    record["metric_values"] = rec.as_json(self.metric_values(desc.get("ModelMetrics")))
                    out.append((record, rec.artifact_urls(desc)))
            self.progress(f"read {len(out)} model packages")
            return out

        return self._once("packages", load)

    def metric_values(self, model_metrics: dict | None) -> dict[str, float]:
        """The numbers of a package's metric reports (S3 JSON), as `<report>.<path>`; a report that
        cannot be read or parsed is left out with a warning."""
        values: dict[str, float] = {}
        for name, url in sorted(rec.metric_reports(model_metrics).items()):
            text = self._s3_text(url) if self.s3 is not None else None
            try:
                values.update(rec.flatten_numbers(json.loads(text), name) if text is not None else {})
            except ValueError:
                self.progress(f"warning: the {name} report {url} is not JSON; its values are not recorded")
        return values

    def _s3_text(self, url: str) -> str | None:
        try:
            where = parse_s3_url(url, "a metrics report", need_key=True)
            answer = self.s3.call("get_object", missing=True, Bucket=where.bucket, Key=where.key)
        except (AwsCallError, SaasBridgeError) as exc:
            self.progress(f"warning: the metrics report {url} is unreadable ({exc}); its values are not recorded")
            return None
        if answer is None:
            self.progress(f"warning: the metrics report {url} does not exist; its values are not recorded")
            return None
        return answer["Body"].read().decode("utf-8", errors="replace")

    def model_cards(self) -> dict[str, dict]:
        """Model Cards by the model they describe (its ARN or name), the newest version of each card."""
        def load() -> dict[str, dict]:
            out: dict[str, dict] = {}
            for s in self.sm.pages("list_model_cards", "ModelCardSummaries", MaxResults=100):
                desc = self._describe("describe_model_card", missing=True, ModelCardName=s["ModelCardName"])
                ref = rec.card_model_ref(desc) if desc is not None else None
                if ref:
                    out[ref] = rec.model_card_summary(desc)
            return out

        return self._once("cards", load)

    def model_card(self, model_arn: str, model_name: str) -> dict | None:
        cards = self.model_cards()
        return cards.get(model_arn) or cards.get(model_name)

    # -- helpers -------------------------------------------------------------------------------

    def _describe(self, operation: str, missing: bool = False, **params: Any) -> Any:
        self.described += 1
        return self.sm.call(operation, missing=missing, **params)

    def _jobs(self, operation: str, key: str, arn_key: str, entity: str, build: Callable[[dict], dict],
              what: str) -> list[dict]:
        """Records of every listed asset; with `since`, unmodified ones the SaaS holds are reused."""
        out = []
        for n, summary in enumerate(self.sm.pages(operation, key, MaxResults=100, **self._listing(operation)), 1):
            stored = self._unchanged(entity, summary[arn_key], summary.get("LastModifiedTime"))
            out.append(stored if stored is not None else build(summary))
            if n % 100 == 0:
                self.progress(f"read {n} {what}…")
        self.progress(f"read {len(out)} {what}")
        return out

    def _unchanged(self, entity: str, arn: str, changed: datetime | None) -> dict | None:
        """The SaaS's record of an asset last changed at `changed`, when that is before `since`;
        its stored tags are reused with it."""
        if self.since is None or changed is None or changed >= self.since:
            return None
        stored = self.known(entity, record_id(arn))
        if stored is None:
            return None
        self._tags.setdefault(arn, stored.get("tags"))
        return {**{k: v for k, v in stored.items() if k not in SYSTEM_FIELDS}, "deleted": False}


def model_entry(desc: dict) -> ModelEntry:
    """A described model as an entry: its record without links, and its artifact URLs."""
    record = rec.model_record(desc, {}, training_job_arn=None, model_package_arn=None, endpoint_arns=[])
    return record, rec.artifact_urls(desc)
