"""What may relate to one model, read with SageMaker's server-side filters instead of listing the
account: importing one model costs calls in proportion to its own assets and to what was created
after it, not to the size of the account.

Each read answers a superset of what the importer links to the model, so the import writes the
records a read of the whole account would:
- training job: SageMaker writes a job's artifacts to `<output path>/<job name>/output/model.tar.gz`,
  so a model made from them names its job, which is described by that name.
- transform jobs and endpoint configurations name the model, so they were created after it.
- an endpoint runs one of those configurations, so it was created or last updated after the
  oldest of them (and none is read when there is no configuration).
- model packages made from the model's artifacts were created after its training job; for a
  model without one, every versioned package is read.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from saasbridge.errors import ConfigError
from saasbridge.s3url import parse_s3_url
from saasbridge.sagemaker.modellog import records as rec
from saasbridge.sagemaker.modellog.inventory import Inventory

MARGIN = timedelta(seconds=1)  # a time bound errs towards reading more (clock rounding)
_JOB_ARTIFACTS = re.compile(r"(?:^|/)([a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/output/model\.tar\.gz$")  # of the key


def training_job_named(artifacts_url: str) -> str | None:
    """The training job whose artifacts `artifacts_url` would be, by SageMaker's layout."""
    try:
        named = _JOB_ARTIFACTS.search(parse_s3_url(artifacts_url).key)
    except ConfigError:  # not an S3 URL: no job wrote it
        return None
    return named[1] if named else None


class RelatedAssets(Inventory):
    """The account's assets as `Inventory` reads them, narrowed to what may relate to the model `desc`."""

    def __init__(self, inventory: Inventory, desc: dict):
        super().__init__(inventory.sm, since=inventory.since, known=inventory.known, progress=inventory.progress,
                         s3=inventory.s3)
        self._tags = inventory._tags  # one tag read per asset and run
        self.desc = desc
        self._arns = {desc["ModelName"]: desc["ModelArn"]}  # model name → ARN, as far as needed

    def model_arns(self) -> dict[str, str]:
        return self._arns

    def _listing(self, operation: str) -> dict[str, Any]:
        created = self.desc["CreationTime"] - MARGIN
        if operation in ("list_transform_jobs", "list_endpoint_configs"):
            return {"CreationTimeAfter": created}
        if operation == "list_endpoints":
            oldest = min(c["created_time"] for c in self.endpoint_configs())
            return {"LastModifiedTimeAfter": rec.parse_iso(oldest) - MARGIN}
        if operation == "list_model_packages":
            trained = [rec.parse_iso(j["created_time"]) for j in self.training_jobs()]
            return {"CreationTimeAfter": min(trained) - MARGIN} if trained else {}
        return {}

    def training_jobs(self) -> list[dict]:
        def load() -> list[dict]:
            out = []
            for url in sorted(rec.artifact_urls(self.desc)):
                name = training_job_named(url)
                job = name and self._describe("describe_training_job", missing=True, TrainingJobName=name)
                if job and (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts") == url:
                    out.append(rec.training_job_record(job, {}, None))
            return out

        return self._once("training", load)

    def variant_models(self, config: dict) -> dict[str, str]:
        """Only a configuration with a variant on this model is resolved (its other models described)."""
        names = {v.get("ModelName", "") for v in config.get("ProductionVariants", [])}
        if self.desc["ModelName"] not in names:
            return {}
        for name in sorted(names - set(self._arns)):
            other = self.describe_model(name)
            if other is not None:
                self._arns[name] = other["ModelArn"]
        return self._arns

    def endpoint_configs(self) -> list[dict]:
        return [c for c in super().endpoint_configs() if self.desc["ModelArn"] in c["model_arns"]]

    def endpoints(self) -> list[dict]:
        return super().endpoints() if self.endpoint_configs() else []
