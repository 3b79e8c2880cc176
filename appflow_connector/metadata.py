"""ListEntities (paginated, nested by catalog group) and DescribeEntity, from the catalog."""

from __future__ import annotations

import base64

import orjson
from custom_connector_sdk.connector import context as sdk_ctx
from custom_connector_sdk.connector import fields as sdk_fields
from custom_connector_sdk.connector.configuration import ConnectorOperator
from custom_connector_sdk.connector.settings import CacheControl, TimeUnit
from custom_connector_sdk.lambda_handler import requests as rq
from custom_connector_sdk.lambda_handler import responses as r
from custom_connector_sdk.lambda_handler.handlers import MetadataHandler

from appflow_connector import session
from appflow_connector.errors import ConnectorError
from appflow_connector.types import APPFLOW_TYPE, filter_operators, type_label
from saasbridge.catalog.model import Catalog, Entity, Field
from saasbridge.client.properties import with_properties
from saasbridge.errors import UnknownEntityError

CACHE = CacheControl(3600, TimeUnit.SECONDS)
DEFAULT_MAX_RESULT = 1000


def _entity_summary(e: Entity) -> sdk_ctx.Entity:
    label = e.name.replace("_", " ").title()
    description = e.description
    if e.path_columns and e.parent is None:  # listed per value: a flow without that filter is refused
        need = f"Needs a filter on {' and '.join(e.path_columns)} (= or IN): the API lists it per value."
        description = f"{description} {need}" if description else need
    return sdk_ctx.Entity(e.name, False, e.writable, label, description)


def _listing(cat: Catalog, path: str | None) -> list[sdk_ctx.Entity]:
    if path:
        children = [e for e in cat.entities if e.group == path]
        if not children and any(e.name == path for e in cat.entities):
            # A leaf entity as the path (the SDK's verification runner sends its test entity): itself.
            return [_entity_summary(cat.entity(path))]
        if not children:
            groups = sorted({e.group for e in cat.entities if e.group})
            raise ConnectorError(
                r.ErrorCode.InvalidArgument,
                f"unknown entitiesPath {path!r}; groups: {', '.join(groups) or '(none)'}",
            )
        return [_entity_summary(e) for e in children]
    out: list[sdk_ctx.Entity] = []
    seen: set[str] = set()
    for e in cat.entities:
        if e.group is None:
            out.append(_entity_summary(e))
        elif e.group not in seen:
            seen.add(e.group)
            writable = any(x.writable for x in cat.entities if x.group == e.group)
            out.append(sdk_ctx.Entity(e.group, True, writable, e.group.replace("_", " ").title(), None))
    return out


def _decode_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = orjson.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        pass
    raise ConnectorError(
        r.ErrorCode.InvalidArgument, "nextToken is not one this connector issued; start over"
    )


def _encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset})).decode()


def field_definition(entity: Entity, f: Field) -> sdk_fields.FieldDefinition:
    is_pk = f.name == entity.primary_key
    ops = filter_operators(f)
    read = sdk_fields.ReadOperationProperty(
        is_retrievable=True,
        is_nullable=f.nullable,
        is_queryable=bool(ops),
        is_timestamp_field_for_incremental_queries=(f.name == entity.incremental_field),
    )
    write = None
    supported = {w.op for w in entity.writes}
    if supported and (f.writable or is_pk):
        id_ops = [
            sdk_fields.WriteOperationType[o.upper()] for o in ("update", "upsert", "delete") if o in supported
        ]
        write = sdk_fields.WriteOperationProperty(
            is_creatable=f.writable and "insert" in supported,
            is_updatable=f.writable and "update" in supported,
            is_nullable=f.nullable,
            is_upsertable=(f.writable or is_pk) and "upsert" in supported,
            is_defaulted_on_create=is_pk,
            supported_write_operations=id_ops if is_pk else None,
        )
    return sdk_fields.FieldDefinition(
        field_name=f.name,
        data_type=sdk_fields.FieldDataType[APPFLOW_TYPE[f.type.kind]],
        data_type_label=type_label(f.type),
        label=f.name.replace("_", " ").capitalize(),
        description=f.description,
        is_primary_key=is_pk,
        read_properties=read,
        write_properties=write,
        filter_operators=[ConnectorOperator[o] for o in ops],
    )


def entity_definition(entity: Entity) -> sdk_ctx.EntityDefinition:
    return sdk_ctx.EntityDefinition(
        _entity_summary(entity), [field_definition(entity, f) for f in entity.fields]
    )


class SaasBridgeMetadataHandler(MetadataHandler):
    def list_entities(self, request: rq.ListEntitiesRequest):
        cat = session.catalog()
        items = _listing(cat, request.entities_path)
        size = request.max_result or DEFAULT_MAX_RESULT
        start = _decode_offset(request.next_token)
        page = items[start : start + size]
        token = _encode_offset(start + size) if start + size < len(items) else None
        return r.ListEntitiesResponse(True, entities=page, next_token=token, cache_control=CACHE)

    def describe_entity(self, request: rq.DescribeEntityRequest):
        cat = session.catalog()
        try:
            entity = cat.entity(request.entity_identifier)
        except UnknownEntityError as exc:
            raise ConnectorError(r.ErrorCode.InvalidArgument, f"Unknown entity: {exc}") from None
        ctx = request.connector_context
        if entity.properties is not None and ctx is not None and ctx.credentials is not None:
            # columns discovered per tenant (issue 24): needs the profile's credentials
            cat = session.catalog_for(ctx.connector_runtime_settings)
            client = session.client_for(cat, ctx.credentials.secret_arn)
            entity = with_properties(cat, client, entity.name).entity(entity.name)
        return r.DescribeEntityResponse(
            True, entity_definition=entity_definition(entity), cache_control=CACHE
        )
