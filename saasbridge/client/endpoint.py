"""Where a listing's pages come from when that is not a GET of the entity's list path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saasbridge.catalog.model import Pagination


@dataclass(frozen=True)
class Endpoint:
    """A search or batch-read request: with a JSON `body` (a POST), the paging parameters go into
    the body (dotted paths) instead of the query string."""

    path: str
    method: str = "GET"
    body: Any = None
    pagination: Pagination | None = None
    records_path: str | None = None

    @property
    def in_body(self) -> bool:
        return self.body is not None
