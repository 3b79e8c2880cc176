"""JSON pages → Arrow record batches typed by the catalog."""

from saasbridge.arrow.convert import RecordConverter
from saasbridge.arrow.schema import TIMESTAMP, arrow_type, entity_schema

__all__ = ["TIMESTAMP", "RecordConverter", "arrow_type", "entity_schema"]
