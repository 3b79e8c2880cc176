"""What this version of the catalog can express: the draft uses newer keys only when the loader
knows them (search endpoints, batch shapes and `last_id` paging came with issue 24)."""

from __future__ import annotations

import dataclasses
import typing

from saasbridge.catalog import model


def knows_key(model_class: type, key: str) -> bool:
    """Whether a catalog model class (Entity, WriteOperation…) has the key."""
    return key in {f.name for f in dataclasses.fields(model_class)}


def knows_style(style: str) -> bool:
    """Whether the catalog knows the pagination style."""
    return style in typing.get_args(model.PaginationStyle)
