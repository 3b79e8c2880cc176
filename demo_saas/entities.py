"""What the reference API serves: entities, their fields and types, filters and sort orders.

One table drives the generator, the SQLite schema, (de)serialisation, validation of writes and
the OpenAPI document, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldKind = Literal[
    "string", "integer", "number", "boolean", "date", "datetime", "string_list", "number_list", "address", "string_map"
]

DEAL_STAGES = ("prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost")
EVENT_TYPES = ("page_view", "email_open", "email_click", "form_submit", "meeting", "call")
ADDRESS_KEYS = ("street", "city", "postal_code", "country")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: FieldKind
    nullable: bool = False
    enum: tuple[str, ...] | None = None
    decimals: int | None = None  # numbers rounded to this many decimals
    description: str | None = None


@dataclass(frozen=True)
class EntitySpec:
    name: str
    id_prefix: str
    id_digits: int
    count: int  # rows per tenant at scale 1
    fields: tuple[FieldSpec, ...]
    time_field: str  # the field behind the *_since/_until filters and the time sort
    equality_filters: tuple[str, ...] = ()
    writable: bool = False  # POST / PUT / DELETE
    patchable: bool = True
    required_on_create: tuple[str, ...] = ()
    one_required_on_create: tuple[str, ...] = ()  # at least one of these fields is set
    _by_name: dict[str, FieldSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({f.name: f for f in self.fields})

    def get_field(self, name: str) -> FieldSpec | None:
        return self._by_name.get(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def time_params(self) -> tuple[str, str]:
        """(since, until) query parameter names for the time window."""
        stem = self.time_field.removesuffix("_at")
        return f"{stem}_since", f"{stem}_until"

    @property
    def sorts(self) -> tuple[str, ...]:
        return ("id", self.time_field, f"-{self.time_field}")

    @property
    def system_fields(self) -> frozenset[str]:
        """Fields the server maintains; a write cannot set them."""
        return frozenset({"id", "created_at", "updated_at"} & set(self.field_names))

    def make_id(self, n: int) -> str:
        return f"{self.id_prefix}_{str(n).zfill(self.id_digits)}"


APPROVAL_STATES = ("pending", "approved", "rejected", "checks_failed", "test_failed", "deployed", "deploy_failed")
_ts = ("created_at", "updated_at")


def _timestamps() -> tuple[FieldSpec, ...]:
    return tuple(FieldSpec(name, "datetime") for name in _ts)


def _model_log(name: str, prefix: str, fields: tuple[FieldSpec, ...], filters: tuple[str, ...]) -> EntitySpec:
    """A writable model-log entity: id, arn, the entity's fields, tags, console link, deleted marker."""
    return EntitySpec(
        name, prefix, 6, 0,
        (
            FieldSpec("id", "string", description="derived from the ARN (see saasbridge.sagemaker.modellog.ids)"),
            FieldSpec("arn", "string", description="the SageMaker ARN"),
            *fields,
            FieldSpec("tags", "string_map", nullable=True),
            FieldSpec("console_url", "string", nullable=True),
            FieldSpec("deleted", "boolean", description="true once the asset is gone from SageMaker"),
            *_timestamps(),
        ),
        time_field="updated_at",
        equality_filters=("arn", *filters, "deleted"),
        writable=True,
        required_on_create=("arn", "deleted"),
    )


ENTITIES: dict[str, EntitySpec] = {
    e.name: e
    for e in (
        EntitySpec(
            "accounts", "acc", 6, 2_000,
            (
                FieldSpec("id", "string"),
                FieldSpec("name", "string"),
                FieldSpec("industry", "string", nullable=True),
                FieldSpec("country", "string", description="ISO 3166-1 alpha-2"),
                FieldSpec("employees", "integer"),
                FieldSpec("annual_revenue", "number", nullable=True, decimals=2),
                FieldSpec("is_active", "boolean"),
                FieldSpec("tags", "string_list"),
                FieldSpec("address", "address", nullable=True),
                *_timestamps(),
            ),
            time_field="updated_at",
            equality_filters=("country", "industry", "is_active"),
        ),
        EntitySpec(
            "contacts", "con", 6, 10_000,
            (
                FieldSpec("id", "string"),
                FieldSpec("account_id", "string"),
                FieldSpec("first_name", "string"),
                FieldSpec("last_name", "string"),
                FieldSpec("email", "string", nullable=True),
                FieldSpec("title", "string", nullable=True),
                FieldSpec("lead_score", "number"),
                FieldSpec("do_not_contact", "boolean"),
                *_timestamps(),
            ),
            time_field="updated_at",
            equality_filters=("account_id",),
        ),
        EntitySpec(
            "deals", "deal", 6, 5_000,
            (
                FieldSpec("id", "string"),
                FieldSpec("account_id", "string"),
                FieldSpec("name", "string"),
                FieldSpec("stage", "string", enum=DEAL_STAGES),
                FieldSpec("amount", "number", decimals=2),
                FieldSpec("currency", "string", description="ISO 4217"),
                FieldSpec("close_date", "date", nullable=True),
                FieldSpec("probability", "integer", description="0-100"),
                *_timestamps(),
            ),
            time_field="updated_at",
            equality_filters=("account_id", "stage"),
        ),
        EntitySpec(
            "events", "evt", 7, 100_000,
            (
                FieldSpec("id", "string"),
                FieldSpec("account_id", "string"),
                FieldSpec("contact_id", "string", nullable=True),
                FieldSpec("type", "string", enum=EVENT_TYPES),
                FieldSpec("occurred_at", "datetime"),
                FieldSpec("properties", "string_map"),
                FieldSpec("duration_ms", "integer", nullable=True),
            ),
            time_field="occurred_at",
            equality_filters=("type", "account_id", "contact_id"),
            patchable=False,  # events are an append-only log
        ),
        EntitySpec(
            "predictions", "pred", 6, 0,
            (
                FieldSpec("id", "string"),
                FieldSpec("entity_type", "string"),
                FieldSpec("entity_id", "string"),
                FieldSpec("model", "string"),
                FieldSpec("score", "number", nullable=True, description="a numeric model's output"),
                FieldSpec("label", "string", nullable=True),
                FieldSpec("text", "string", nullable=True, description="a text-generation model's output"),
                FieldSpec("embedding", "number_list", nullable=True, description="an embedding model's vector"),
                FieldSpec("endpoint", "string", nullable=True, description="the SageMaker endpoint that scored, if any"),
                FieldSpec("predicted_at", "datetime", nullable=True, description="when the model scored the row"),
                FieldSpec("model_version", "string", nullable=True,
                          description="the version that scored: model (or package version) @ endpoint configuration"),
                *_timestamps(),
            ),
            time_field="updated_at",
            writable=True,
            required_on_create=("entity_type", "entity_id", "model"),
            one_required_on_create=("score", "text", "embedding"),
        ),
        # The SageMaker model log (saasbridge.sagemaker.modellog): every record keeps its SageMaker ARN,
        # its id is derived from that ARN (so a re-import upserts), and `deleted` marks what is gone.
        _model_log("models", "mdl", (
            FieldSpec("name", "string"),
            FieldSpec("created_time", "datetime", nullable=True),
            FieldSpec("containers", "string", nullable=True, description="JSON array: image, model_data_url, environment (secrets left out)"),
            FieldSpec("execution_role_arn", "string", nullable=True),
            FieldSpec("network", "string", nullable=True, description="JSON: vpc_config, network_isolation"),
            FieldSpec("training_job_arn", "string", nullable=True),
            FieldSpec("model_package_arn", "string", nullable=True),
            FieldSpec("endpoint_arns", "string_list", nullable=True),
            FieldSpec("documentation_url", "string", nullable=True, description="recorded in the SaaS; checked before deploying"),
            FieldSpec("input_schema", "string", nullable=True, description="recorded in the SaaS; checked before deploying"),
            FieldSpec("test_data_url", "string", nullable=True, description="s3:// test input (CSV lines), recorded in the SaaS"),
            FieldSpec("test_expected_url", "string", nullable=True, description="s3:// expected transform output, recorded in the SaaS"),
            FieldSpec("input_content_type", "string", nullable=True, description="the test transform's ContentType, recorded in the SaaS"),
            FieldSpec("output_content_type", "string", nullable=True, description="the test transform's Accept, recorded in the SaaS"),
            FieldSpec("training_job_id", "string", nullable=True, description="lineage: the ml_jobs record"),
            FieldSpec("model_package_id", "string", nullable=True, description="lineage: the model_versions record"),
            FieldSpec("endpoint_config_ids", "string_list", nullable=True, description="lineage: model_versions records"),
            FieldSpec("endpoint_ids", "string_list", nullable=True, description="lineage: deployments records"),
            FieldSpec("model_card", "string", nullable=True, description="JSON: the SageMaker Model Card, when there is one"),
        ), ("name",)),
        _model_log("model_versions", "mver", (
            FieldSpec("kind", "string", enum=("endpoint_config", "model_package", "model")),
            FieldSpec("name", "string"),
            FieldSpec("created_time", "datetime", nullable=True),
            FieldSpec("model_arns", "string_list", nullable=True),
            FieldSpec("variants", "string", nullable=True, description="JSON array: variant, model, instance type and count, weight"),
            FieldSpec("package_group", "string", nullable=True),
            FieldSpec("package_version", "integer", nullable=True),
            FieldSpec("approval_status", "string", nullable=True),
            FieldSpec("inference_specification", "string", nullable=True, description="JSON"),
            FieldSpec("metrics", "string", nullable=True, description="JSON"),
            FieldSpec("metric_values", "string", nullable=True, description="JSON: the metrics' S3 reports as numbers by path"),
            FieldSpec("custom_metadata", "string_map", nullable=True),
        ), ("kind", "name")),
        _model_log("deployments", "dep", (
            FieldSpec("name", "string"),
            FieldSpec("status", "string", nullable=True),
            FieldSpec("endpoint_config_arn", "string", nullable=True),
            FieldSpec("endpoint_config_id", "string", nullable=True, description="lineage: the model_versions record"),
            FieldSpec("model_arns", "string_list", nullable=True),
            FieldSpec("variants", "string", nullable=True, description="JSON array"),
            FieldSpec("created_time", "datetime", nullable=True),
            FieldSpec("last_modified_time", "datetime", nullable=True),
            FieldSpec("failure_reason", "string", nullable=True),
        ), ("name", "status")),
        _model_log("ml_jobs", "job", (
            FieldSpec("kind", "string", enum=("training", "transform", "automl", "automl_candidate")),
            FieldSpec("name", "string"),
            FieldSpec("model_arn", "string", nullable=True),
            FieldSpec("model_arns", "string_list", nullable=True, description="every model made from the job's artifacts"),
            FieldSpec("status", "string", nullable=True),
            FieldSpec("created_time", "datetime", nullable=True),
            FieldSpec("started_at", "datetime", nullable=True),
            FieldSpec("ended_at", "datetime", nullable=True),
            FieldSpec("duration_seconds", "integer", nullable=True),
            FieldSpec("input_urls", "string_list", nullable=True),
            FieldSpec("output_url", "string", nullable=True),
            FieldSpec("instance_type", "string", nullable=True),
            FieldSpec("instance_count", "integer", nullable=True),
            FieldSpec("failure_reason", "string", nullable=True),
            FieldSpec("metrics", "string", nullable=True,
                      description="JSON: a training job's final metrics; an Autopilot job's candidates and objective values"),
        ), ("kind", "model_arn", "status")),
        EntitySpec(
            "approvals", "apr", 6, 0,
            (
                FieldSpec("id", "string"),
                FieldSpec("model_arn", "string"),
                FieldSpec("model_name", "string"),
                FieldSpec("endpoint_config_arn", "string"),
                FieldSpec("endpoint_name", "string"),
                FieldSpec("status", "string", enum=APPROVAL_STATES, description="set by the deployment flow"),
                FieldSpec("decision", "string", nullable=True, enum=("approved", "rejected"),
                          description="set by a reviewer in the SaaS; the flow deploys only once approved"),
                FieldSpec("decided_by", "string", nullable=True),
                FieldSpec("comment", "string", nullable=True, description="the reviewer's comment"),
                FieldSpec("checks", "string", nullable=True, description="JSON: the required assets and the test result"),
                FieldSpec("test_job_arn", "string", nullable=True),
                FieldSpec("model_package_arn", "string", nullable=True),
                FieldSpec("failure_reason", "string", nullable=True),
                *_timestamps(),
            ),
            time_field="updated_at",
            equality_filters=("model_arn", "status"),
            writable=True,
            required_on_create=("model_arn", "model_name", "endpoint_config_arn", "endpoint_name", "status"),
        ),
    )
}

ENTITY_NAMES: tuple[str, ...] = tuple(ENTITIES)
