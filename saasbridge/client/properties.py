"""Dynamic properties: columns an entity discovers from a metadata endpoint (HubSpot properties,
Salesforce fields, Zendesk custom fields), per tenant, cached for `ttl_seconds`.

Catalog columns win (by column name or API name); a property that vanishes between discovery
and a read reads as null (an absent key), never as an error.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from typing import Any

from saasbridge.catalog.model import Catalog, Entity, Field
from saasbridge.catalog.types import parse_type
from saasbridge.client.retry import body_path
from saasbridge.errors import CatalogError

_cache: dict[tuple[str, str, str], tuple[float, tuple[Field, ...], tuple[str, ...]]] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def with_properties(catalog: Catalog, client: Any, entity_name: str, *, clock: Any = time.monotonic) -> Catalog:
    """The catalog with `entity_name`'s discovered columns added (itself when it declares none)."""
    entity = catalog.entity(entity_name)
    if entity.properties is None:
        return catalog
    fields, unfilterable = discovered(client, catalog, entity, clock=clock)
    fields = tuple(f for f in fields if not entity.has_field(f.name))  # already added: a no-op
    if not fields:
        return catalog
    search = entity.search
    if search is not None and unfilterable:
        allowed = search.filterable if search.filterable is not None else tuple(entity.column_names)
        allowed += tuple(f.name for f in fields if f.name not in unfilterable)
        search = dataclasses.replace(search, filterable=allowed)
    elif search is not None and search.filterable is not None:
        search = dataclasses.replace(search, filterable=search.filterable + tuple(f.name for f in fields))
    grown = dataclasses.replace(entity, fields=entity.fields + fields, search=search)
    return dataclasses.replace(catalog, entities=tuple(grown if e.name == entity_name else e for e in catalog.entities))


def discovered(
    client: Any, catalog: Catalog, entity: Entity, *, clock: Any = time.monotonic
) -> tuple[tuple[Field, ...], tuple[str, ...]]:
    """(the discovered columns the catalog does not have, those of them not filterable)."""
    spec = entity.properties
    assert spec is not None
    key = (catalog.base_url, client.credentials.identity(), entity.name)
    now = clock()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and now - hit[0] < spec.ttl_seconds:
        return hit[1], hit[2]
    response = client.request("GET", spec.path, params=catalog.params_for(entity))
    items = body_path(response.json(), spec.records_path)
    fields: list[Field] = []
    unfilterable: list[str] = []
    names = set(entity.column_names)
    api_names = {f.api_name for f in entity.fields}
    types = dict(spec.types)
    for item in items if isinstance(items, list) else []:
        name = body_path(item, spec.name_path)
        if not isinstance(name, str) or not name:
            continue
        api_name = spec.api_prefix + name
        column = _column_name(name)
        if api_name in api_names or column in names:
            continue  # catalog columns win
        try:
            ftype = parse_type(types.get(str(body_path(item, spec.type_path)), "string"))
        except CatalogError:
            ftype = parse_type("string")
        fields.append(Field(name=column, api_name=api_name, type=ftype))
        names.add(column)
        if spec.filterable_path and body_path(item, spec.filterable_path) is False:
            unfilterable.append(column)
    found = (tuple(fields), tuple(unfilterable))
    with _lock:
        _cache[key] = (now, *found)
    return found


def _column_name(name: str) -> str:
    """An API property name as a column: lower-case snake_case (Athena lower-cases names)."""
    text = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return text if text and text[0].isalpha() else f"p_{text}"
