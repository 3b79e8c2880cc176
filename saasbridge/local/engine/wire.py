"""Athena's side of the federation wire protocol, what the engine adds to the builders of
`athena_connector.protocol`: the per-query session (ids, catalog, negotiated serde version),
the identity Athena sends, response checks, Arrow decoding with engine errors, and the
optimizations a connector advertised.

Requests are built with the protocol module's public builders (the ones the fixture-conformance
tests pin); the engine still reaches the connector only through the JSON its transport carries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from athena_connector import protocol
from athena_connector.errors import ProtocolError
from saasbridge.errors import QueryError

IDENTITY = protocol.Identity(
    account="000000000000", arn="arn:aws:sts::000000000000:assumed-role/saasbridge-local/engine"
)
DEFAULT_MAX_BLOCK_SIZE = 16_000_000
DEFAULT_MAX_INLINE_BLOCK_SIZE = 3_465_000  # what a real Athena sends (see athena-protocol.md 6.1)


@dataclass
class Session:
    """What every request of one query shares: ids, catalog and the negotiated serde version."""

    catalog_name: str
    query_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    serde_version: int = 4

    @property
    def ids(self) -> dict[str, Any]:
        """The `query_id=` and `identity=` keywords every protocol builder takes."""
        return {"query_id": self.query_id, "identity": IDENTITY}


# ---------------------------------------------------------------- responses


def expect(response: Any, *types: str) -> dict:
    """`response` as a dict whose `@type` is one of `types`, or a clear QueryError."""
    if not isinstance(response, dict) or response.get("@type") not in types:
        got = response.get("@type") if isinstance(response, dict) else type(response).__name__
        raise QueryError(f"the connector answered {got!r} where {' or '.join(types)} was expected")
    return response


def decode_schema(text: str) -> pa.Schema:
    try:
        return protocol.decode_schema(text)
    except ProtocolError as exc:
        raise QueryError(f"the connector sent an unreadable Arrow schema ({exc}); check its serde") from exc


def decode_block(block: dict) -> pa.RecordBatch:
    try:
        return protocol.decode_block(block)
    except ProtocolError as exc:
        raise QueryError(f"the connector sent an unreadable Arrow block ({exc}); check its serde") from exc


@dataclass(frozen=True)
class Capabilities:
    """The optimizations a connector advertised in GetDataSourceCapabilities."""

    raw: dict[str, list[dict]]

    def has(self, name: str, sub_type: str) -> bool:
        return any(item.get("subType") == sub_type for item in self.raw.get(name, []))

    @property
    def limit_pushdown(self) -> bool:
        return self.has("supports_limit_pushdown", "integer_constant")

    @property
    def top_n_pushdown(self) -> bool:
        return self.has("supports_top_n_pushdown", "SUPPORTS_ORDER_BY")

    def describe(self) -> list[str]:
        return [f"{k}:{','.join(i.get('subType', '?') for i in v)}" for k, v in sorted(self.raw.items())]
