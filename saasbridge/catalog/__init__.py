"""The entity catalog: one YAML file describes the SaaS API for both connectors (docs/catalog.md)."""

from saasbridge.catalog.loader import (
    catalog_from_dict,
    catalog_schema,
    load_catalog,
    load_catalog_text,
)
from saasbridge.catalog.model import (
    Auth,
    Catalog,
    Entity,
    Field,
    FieldFilter,
    FieldType,
    Pagination,
    QuotaResponse,
    RateBudget,
    Retry,
    Sort,
    SplitHint,
    WriteOperation,
)
from saasbridge.catalog.types import format_type, parse_type

__all__ = [
    "Auth",
    "Catalog",
    "Entity",
    "Field",
    "FieldFilter",
    "FieldType",
    "Pagination",
    "QuotaResponse",
    "RateBudget",
    "Retry",
    "Sort",
    "SplitHint",
    "WriteOperation",
    "catalog_from_dict",
    "catalog_schema",
    "format_type",
    "load_catalog",
    "load_catalog_text",
    "parse_type",
]
