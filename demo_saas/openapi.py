"""Pydantic models built from the entity specs, for the OpenAPI document only.

Responses are serialised by hand (see `app`); these models make `/openapi.json` describe them
precisely: typed fields, nullability, date/date-time formats, enums, nested objects and arrays.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from demo_saas.entities import ENTITIES, EntitySpec, FieldSpec
from demo_saas.params import DEFAULT_LIMIT, MAX_IDS, MAX_LIMIT


class Address(BaseModel):
    street: str | None
    city: str | None
    postal_code: str | None
    country: str | None = Field(description="ISO 3166-1 alpha-2")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int


class WriteError(BaseModel):
    index: int
    code: str
    message: str


def _python_type(f: FieldSpec) -> Any:
    """The field's type; formats and constraints sit on the non-null branch, where generators look."""
    base: Any = {
        "string": str, "integer": int, "number": float, "boolean": bool, "date": dt.date,
        "datetime": dt.datetime, "string_list": list[str], "number_list": list[float], "address": Address, "string_map": dict[str, str],
    }[f.kind]
    if f.enum:
        base = Literal[f.enum]  # type: ignore[valid-type]
    constraints: dict[str, Any] = {}
    if f.kind == "integer":
        constraints["json_schema_extra"] = {"format": "int64"}
    if f.kind == "number" and f.decimals is None:
        constraints["json_schema_extra"] = {"format": "double"}
    if f.decimals is not None:  # not multipleOf: binary floats fail it (0.29 % 0.01 != 0)
        constraints["json_schema_extra"] = {"format": "decimal", "x-decimal-places": f.decimals}
    if constraints:
        base = Annotated[base, Field(**constraints)]
    return base | None if f.nullable else base


def _field_info(f: FieldSpec, *, required: bool) -> Any:
    return Field(... if required else None, description=f.description)


def _title(spec: EntitySpec) -> str:
    return spec.name[:-1].capitalize()


def record_model(spec: EntitySpec) -> type[BaseModel]:
    fields = {f.name: (_python_type(f), _field_info(f, required=True)) for f in spec.fields}
    return create_model(_title(spec), __config__=ConfigDict(extra="forbid"), **fields)


def list_model(spec: EntitySpec, record: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        f"{_title(spec)}Page",
        data=(list[record], Field(..., description="The page's records, in the requested order.")),
        next_cursor=(str | None, Field(..., description="Pass as `cursor` for the next page; null on the last page.")),
    )


def write_model(spec: EntitySpec, *, partial: bool) -> type[BaseModel]:
    """The body of PATCH (partial: every field optional) or of POST items / PUT (create)."""
    fields = {}
    for f in spec.fields:
        if f.name in spec.system_fields and not (f.name == "id" and not partial):
            continue
        required = not partial and f.name in spec.required_on_create
        fields[f.name] = (_python_type(f) | None if not required else _python_type(f), _field_info(f, required=required))
    suffix = "Patch" if partial else "Input"
    return create_model(f"{_title(spec)}{suffix}", __config__=ConfigDict(extra="forbid"), **fields)


def write_batch_models(spec: EntitySpec, item: type[BaseModel], record: type[BaseModel]) -> tuple[type[BaseModel], type[BaseModel]]:
    body = create_model(f"{_title(spec)}Batch", data=(list[item], Field(..., max_length=100)))
    result = create_model(f"{_title(spec)}BatchResult", data=(list[record], ...), errors=(list[WriteError], ...))
    return body, result


def list_parameters(spec: EntitySpec) -> list[dict]:
    """OpenAPI parameter objects for `GET /v1/{entity}`."""
    since, until = spec.time_params
    t = spec.time_field
    params = [
        _param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "Page size."),
        _param("cursor", {"type": "string"}, "Opaque cursor: the previous page's next_cursor."),
        _param("sort", {"type": "string", "enum": list(spec.sorts), "default": "id"},
               f"Order: id ascending, {t} ascending or descending (ties by id ascending)."),
        _param(since, {"type": "string", "format": "date-time"}, f"Only records with {t} >= this instant."),
        _param(until, {"type": "string", "format": "date-time"}, f"Only records with {t} < this instant."),
        _param("ids", {"type": "string"}, f"Comma-separated ids (at most {MAX_IDS})."),
        _param("fields", {"type": "string"}, "Comma-separated field names to return (id is always returned)."),
    ]
    for name in spec.equality_filters:
        f = spec.get_field(name)
        schema: dict[str, Any] = {"type": "boolean"} if f.kind == "boolean" else {"type": "string"}
        if f.enum:
            schema["enum"] = list(f.enum)
        params.append(_param(name, schema, f"Only records whose {name} equals this value."))
    return params


def _param(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


class EntityModels:
    """Every model of one entity."""

    def __init__(self, spec: EntitySpec):
        self.record = record_model(spec)
        self.page = list_model(spec, self.record)
        self.patch = write_model(spec, partial=True) if spec.patchable else None
        self.input = write_model(spec, partial=False) if spec.writable else None
        self.batch, self.batch_result = (
            write_batch_models(spec, self.input, self.record) if self.input else (None, None)
        )


def all_models() -> dict[str, EntityModels]:
    return {name: EntityModels(spec) for name, spec in ENTITIES.items()}


def add_component_schemas(openapi: dict, models: list[type[BaseModel]]) -> None:
    """Put request-body models (not referenced by any response) into `components/schemas`."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas.setdefault(model.__name__, schema)


def json_body(model: type[BaseModel]) -> dict:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    }
