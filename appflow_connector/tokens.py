"""QueryData's nextToken: the reader's resume state plus where inside the current API page to go on.

A token is bound to the query it came from (entity, fields, filter) so that a token replayed against
another query is refused instead of silently skipping rows.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from custom_connector_sdk.lambda_handler.responses import ErrorCode

from appflow_connector.errors import ConnectorError

VERSION = 1


@dataclass
class Position:
    """Where a listing stands: `page` = the reader's resume state at the start of the current API
    page (None = the very start); `skip`/`last_id` = rows of that page already returned; `emitted` =
    rows returned so far across all calls (for LIMIT); `page_size` = records per API page from
    `page` on (None = the configured size)."""

    page: dict | None = None
    skip: int = 0
    last_id: Any = None
    emitted: int = 0
    page_size: int | None = None
    extra: dict = field(default_factory=dict)


def query_fingerprint(entity: str, columns: list[str] | None, expression: str | None) -> str:
    text = orjson.dumps([entity, columns, expression or ""])
    return hashlib.sha256(text).hexdigest()[:16]


def encode(position: Position, fingerprint: str) -> str:
    body = {"v": VERSION, "q": fingerprint, "p": position.page, "s": position.skip, "e": position.emitted}
    if position.last_id is not None:
        body["i"] = position.last_id
    if position.page_size is not None:
        body["z"] = position.page_size
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")


def decode(token: str | None, fingerprint: str) -> Position:
    if not token:
        return Position()
    try:
        padded = token + "=" * (-len(token) % 4)
        body = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(body, dict) or body.get("v") != VERSION:
            raise ValueError
        size = body.get("z")
        position = Position(
            page=body.get("p"), skip=int(body.get("s", 0)), last_id=body.get("i"), emitted=int(body.get("e", 0)),
            page_size=None if size is None else max(1, int(size)),
        )
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise ConnectorError(
            ErrorCode.InvalidArgument, "nextToken was not issued by this connector; restart the flow run"
        ) from None
    if body.get("q") != fingerprint:
        raise ConnectorError(
            ErrorCode.InvalidArgument,
            "nextToken belongs to a different query (entity, fields or filter changed); restart the flow run",
        )
    return position
