"""Athena's part of the federation protocol: the request sequence a query sends to a connector.

Ping (once per driver, negotiating the serde version), GetDataSourceCapabilities (v4+, once),
ListSchemas / ListTables (following nextToken) / GetTable, then per table scan GetTableLayout,
GetSplits (following continuation tokens, a repeated token is an error) and ReadRecords per split,
spilled blocks (RemoteReadRecordsResponse) read back from S3 and decrypted as Athena does.

Requests are built with `athena_connector.protocol`'s public builders (the ones the fixture
conformance tests pin); the connector is reached only through the JSON its invoker carries.
Planning (which constraints, which columns) and running SQL stay with the caller.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from athena_connector import protocol
from athena_connector.errors import ProtocolError
from saasbridge.drivers.lambda_invoker import Invoker, InvokeResult
from saasbridge.errors import QueryError

IDENTITY = protocol.Identity(
    account="000000000000", arn="arn:aws:sts::000000000000:assumed-role/saasbridge-local/engine"
)
DEFAULT_MAX_BLOCK_SIZE = 16_000_000
DEFAULT_MAX_INLINE_BLOCK_SIZE = 3_465_000  # what a real Athena sends (see athena-protocol.md 6.1)
MAX_SERDE_VERSION = 6


class CallObserver(Protocol):
    """What a caller learns of each call (e.g. a query's statistics)."""

    def record_call(self, result: InvokeResult) -> None: ...

    def record_spilled(self, blocks: int) -> None: ...


class _Unobserved:
    def record_call(self, result: InvokeResult) -> None:
        pass

    def record_spilled(self, blocks: int) -> None:
        pass


UNOBSERVED: CallObserver = _Unobserved()  # for a caller that keeps no statistics


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


@dataclass
class TableScan:
    """One table as a scan asks for it: the request fields GetTableLayout, GetSplits and ReadRecords share."""

    schema_name: str
    table: str
    table_schema: pa.Schema
    partition_columns: list[str]
    constraints: dict


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


_S3_LOCK = threading.Lock()
_S3_CLIENTS: dict[str | None, Any] = {}


def s3_client(endpoint_url: str | None = None) -> Any:
    """One boto3 S3 client per endpoint; without one, boto3's own (AWS_ENDPOINT_URL[_S3]), cached
    under the endpoint those variables name now, so a changed environment gets a new client."""
    key = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    with _S3_LOCK:
        if key not in _S3_CLIENTS:
            import boto3

            _S3_CLIENTS[key] = boto3.client("s3", endpoint_url=endpoint_url) if endpoint_url else boto3.client("s3")
        return _S3_CLIENTS[key]


def read_remote_blocks(response: dict, *, s3: Any) -> list[pa.RecordBatch]:
    """Every spilled block of a RemoteReadRecordsResponse, decrypted, in write order."""
    from cryptography.exceptions import InvalidTag

    schema = decode_schema(response["schema"])
    batches = []
    for location in response.get("remoteBlocks") or []:
        where = f"s3://{location['bucket']}/{location['key']}"
        try:
            batches.append(protocol.read_spilled_block(s3, location, response.get("encryptionKey"), schema))
        except InvalidTag as exc:  # wrong key or tampered object
            raise QueryError(f"spilled block {where} does not decrypt with the split's key") from exc
        except ProtocolError as exc:
            raise QueryError(f"the connector sent an unreadable spilled block {where} ({exc})") from exc
        except Exception as exc:  # botocore ClientError / connection errors
            raise QueryError(f"cannot read spilled block {where}: {exc}") from exc
    return batches


# ---------------------------------------------------------------- the sequence


class AthenaDriver:
    """Athena's requests to one connector function. Pings once, asks capabilities once."""

    def __init__(
        self,
        invoker: Invoker,
        catalog_name: str = "saas",
        *,
        max_block_size: int = DEFAULT_MAX_BLOCK_SIZE,
        max_inline_block_size: int = DEFAULT_MAX_INLINE_BLOCK_SIZE,
        s3_endpoint_url: str | None = None,
    ):
        self.invoker = invoker
        self.catalog_name = catalog_name
        self.max_block_size = max_block_size
        self.max_inline_block_size = max_inline_block_size
        self.s3_endpoint_url = s3_endpoint_url
        self._serde: int | None = None
        self._caps: Capabilities | None = None
        self._lock = threading.Lock()

    def call(self, payload: dict, observer: CallObserver, *expected: str) -> dict:
        result = self.invoker.invoke(payload)
        observer.record_call(result)
        return expect(result.payload, *expected)

    def session(self, observer: CallObserver) -> Session:
        """A new query's session, pinging the function first if this driver has not yet."""
        s = Session(self.catalog_name)
        with self._lock:
            if self._serde is None:
                ping = self.call(protocol.build_ping_request(s.catalog_name, **s.ids), observer, "PingResponse")
                version = ping.get("serDeVersion") or 1
                if version < 2:
                    raise QueryError(
                        f"the connector announced serde version {version}; Athena needs 2 or later (upgrade the connector)"
                    )
                self._serde = min(int(version), MAX_SERDE_VERSION)
        s.serde_version = self._serde
        return s

    def capabilities(self, s: Session, observer: CallObserver) -> Capabilities:
        with self._lock:
            if self._caps is None:
                if s.serde_version < 4:
                    self._caps = Capabilities({})
                else:
                    resp = self.call(
                        protocol.build_get_data_source_capabilities_request(s.catalog_name, **s.ids),
                        observer,
                        "GetDataSourceCapabilitiesResponse",
                    )
                    self._caps = Capabilities(resp.get("capabilities") or {})
            return self._caps

    # ------------------------------------------------------------ metadata

    def list_schemas(self, s: Session, observer: CallObserver) -> list[str]:
        request = protocol.build_list_schemas_request(s.catalog_name, **s.ids)
        return list(self.call(request, observer, "ListSchemasResponse").get("schemas") or [])

    def list_tables(self, s: Session, schema: str, observer: CallObserver) -> list[tuple[str, str]]:
        tables: list[tuple[str, str]] = []
        token: str | None = None
        while True:
            request = protocol.build_list_tables_request(s.catalog_name, schema, next_token=token, **s.ids)
            resp = self.call(request, observer, "ListTablesResponse")
            tables.extend((t["schemaName"], t["tableName"]) for t in resp.get("tables") or [])
            token = resp.get("nextToken")
            if not token:
                return tables

    def get_table(
        self, s: Session, schema: str, table: str, observer: CallObserver
    ) -> tuple[pa.Schema, list[str]]:
        request = protocol.build_get_table_request(s.catalog_name, schema, table, version=s.serde_version, **s.ids)
        resp = self.call(request, observer, "GetTableResponse")
        return decode_schema(resp["schema"]), list(resp.get("partitionColumns") or [])

    # ------------------------------------------------------------ a scan

    def layout_and_splits(
        self, s: Session, scan: TableScan, observer: CallObserver
    ) -> tuple[dict, list[dict]]:
        """GetTableLayout, then GetSplits until no continuation token: (partitions block, splits)."""
        layout = self.call(
            protocol.build_get_table_layout_request(
                s.catalog_name, scan.schema_name, scan.table, constraints=scan.constraints,
                schema=scan.table_schema, partition_columns=scan.partition_columns,
                version=s.serde_version, **s.ids,
            ),
            observer,
            "GetTableLayoutResponse",
        )  # fmt: skip
        partitions = layout["partitions"]
        splits: list[dict] = []
        if decode_block(partitions).num_rows == 0:
            return partitions, splits  # no partition survived: nothing to read
        token: str | None = None
        seen: set[str] = set()
        while True:
            resp = self.call(
                protocol.build_get_splits_request(
                    s.catalog_name, scan.schema_name, scan.table, partitions=partitions,
                    partition_columns=scan.partition_columns, constraints=scan.constraints,
                    continuation_token=token, version=s.serde_version, **s.ids,
                ),
                observer,
                "GetSplitsResponse",
            )  # fmt: skip
            splits.extend(resp.get("splits") or [])
            token = resp.get("continuationToken")
            if not token:
                return partitions, splits
            if token in seen:
                raise QueryError(f"the connector repeated the GetSplits continuation token {token!r}")
            seen.add(token)

    def read_records(
        self, s: Session, scan: TableScan, projection: pa.Schema, split: dict, observer: CallObserver
    ) -> dict:
        """The ReadRecords response of one split (inline or remote)."""
        request = protocol.build_read_records_request(
            s.catalog_name, scan.schema_name, scan.table, schema=projection, split=split,
            constraints=scan.constraints, max_block_size=self.max_block_size,
            max_inline_block_size=self.max_inline_block_size, version=s.serde_version, **s.ids,
        )  # fmt: skip
        return self.call(request, observer, "ReadRecordsResponse", "RemoteReadRecordsResponse")

    def blocks(self, response: dict, observer: CallObserver) -> list[pa.RecordBatch]:
        """A ReadRecords response's rows: the inline block, or every spilled block read back from S3."""
        if response["@type"] == "ReadRecordsResponse":
            return [decode_block(response["records"])]
        batches = read_remote_blocks(response, s3=s3_client(self.s3_endpoint_url))
        observer.record_spilled(len(response.get("remoteBlocks") or []))
        return batches

    def read_split(
        self, s: Session, scan: TableScan, projection: pa.Schema, split: dict, observer: CallObserver
    ) -> list[pa.RecordBatch]:
        """ReadRecords of one split, spilled blocks included."""
        return self.blocks(self.read_records(s, scan, projection, split, observer), observer)
