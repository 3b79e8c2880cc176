"""Which API fields a read asks for (the projection parameter of a list, search or batch read)."""

from __future__ import annotations

from collections.abc import Callable

from saasbridge.catalog.model import Entity, Field
from saasbridge.query.ir import Query, columns_of


def projection(entity: Entity, query: Query, name: Callable[[Field], str] | None = None) -> list[str] | None:
    """The API names a read asks for (None = all): the top-level keys of the columns it needs;
    with dynamic properties, the property names (under `api_prefix`) of every column unless
    fewer are asked for, since such an API returns only a default few. `name(field)` gives the
    name sent for a field instead."""
    dynamic = entity.properties.api_prefix if entity.properties is not None else None
    if query.columns is None and not dynamic:
        return None
    columns = list(query.columns) if query.columns is not None else entity.column_names
    wanted = columns + sorted(columns_of(query.where)) + [o.column for o in query.order_by]
    if entity.primary_key:
        wanted.insert(0, entity.primary_key)
    api: list[str] = []
    for column in wanted:
        f = entity.field(column)
        if dynamic:
            if not f.api_name.startswith(dynamic):
                continue  # outside the properties: comes with every record
            text = name(f) if name else f.api_name[len(dynamic) :]
        else:
            text = name(f) if name else f.api_name.split(".")[0]
        if text not in api:
            api.append(text)
    return api
