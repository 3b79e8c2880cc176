"""Which API fields a read asks for (the projection parameter of a list, search or batch read)."""

from __future__ import annotations

from saasbridge.catalog.model import Entity
from saasbridge.query.ir import Query, columns_of


def projection(entity: Entity, query: Query, prefix: str | None = None) -> list[str] | None:
    """The API names a read asks for (None = all): the top-level key of each column it needs.
    Under a `prefix` (`properties.`, `fields.`) the key after it, and columns outside it are
    left out (they come with every record). With dynamic properties every column is asked for
    unless fewer are wanted, since such an API returns only a default few."""
    dynamic = entity.properties is not None
    if query.columns is None and not dynamic:
        return None
    columns = list(query.columns) if query.columns is not None else entity.column_names
    wanted = columns + sorted(columns_of(query.where)) + [o.column for o in query.order_by]
    if entity.primary_key:
        wanted.insert(0, entity.primary_key)
    api: list[str] = []
    for column in wanted:
        name = entity.field(column).api_name
        if prefix:
            if not name.startswith(prefix):
                continue
            name = name[len(prefix) :]
        top = name.split(".")[0]
        if top not in api:
            api.append(top)
    return api
