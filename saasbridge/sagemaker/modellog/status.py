"""Which predictions a new model made stale: per endpoint, the model version serving now and, per
entity, how many rows' newest prediction from that endpoint came from an older version."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from saasbridge.client.client import SaasClient
from saasbridge.errors import ConfigError
from saasbridge.sagemaker.aws import AwsService
from saasbridge.sagemaker.inference.version import VERSION_FIELD, latest_versions, serving_version

PREDICTIONS = "predictions"


@dataclass
class EntityStaleness:
    entity: str
    rows: int  # rows with a prediction from the endpoint
    stale: int  # of those, predicted by an older version (or one not recorded)


@dataclass
class ServingStatus:
    endpoint: str
    models: list[str]
    version: str | None  # None: the endpoint's configuration could not be read
    entities: list[EntityStaleness] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"endpoint {self.endpoint}: serving {', '.join(self.models) or '?'} (version {self.version or 'unknown'})"]
        out += [f"  {e.entity}: {e.rows} rows predicted, {e.stale} from older versions" for e in self.entities]
        return out


def model_status(session: Any, client: SaasClient, *, model: str | None = None,
                 predictions: str = PREDICTIONS) -> list[ServingStatus]:  # fmt: skip
    """The status of every endpoint in service (or of those serving `model`, or named `model`)."""
    sm = AwsService(session.client("sagemaker"))
    spec = client.catalog.entity(predictions)
    if VERSION_FIELD not in {f.name for f in spec.fields}:
        raise ConfigError(f"{predictions} has no {VERSION_FIELD} field: predictions do not record their version")
    rows = [r for page in client.list_pages(spec, {}, page_size=1000) for r in page.records]
    out = []
    for summary in sm.pages("list_endpoints", "Endpoints", MaxResults=100, StatusEquals="InService"):
        name = summary["EndpointName"]
        config = sm.call("describe_endpoint_config", EndpointConfigName=sm.call(
            "describe_endpoint", EndpointName=name)["EndpointConfigName"])  # fmt: skip
        models = sorted({v["ModelName"] for v in config.get("ProductionVariants") or []})
        if model is not None and model != name and model not in models:
            continue
        status = ServingStatus(name, models, serving_version(session, name))
        for entity in sorted({r.get("entity_type") for r in rows if r.get("endpoint") == name}):
            versions = Counter(latest_versions(rows, entity, name).values())
            total = sum(versions.values())
            status.entities.append(EntityStaleness(entity, total, total - versions.get(status.version, 0)))
        out.append(status)
    if model is not None and not out:
        raise ConfigError(f"no endpoint in service serves or is named {model!r}; check --model and --region")
    return out
