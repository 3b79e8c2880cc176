"""Reading the blocks a connector spilled to S3 (RemoteReadRecordsResponse), as Athena does."""

from __future__ import annotations

import threading
from typing import Any

import pyarrow as pa
from cryptography.exceptions import InvalidTag

from athena_connector import protocol
from athena_connector.errors import ProtocolError
from saasbridge.errors import QueryError
from saasbridge.local.engine import wire

_CLIENT_LOCK = threading.Lock()
_CLIENTS: dict[str | None, Any] = {}


def s3_client(endpoint_url: str | None = None) -> Any:
    """One boto3 S3 client per endpoint (boto3 itself honours AWS_ENDPOINT_URL[_S3])."""
    with _CLIENT_LOCK:
        if endpoint_url not in _CLIENTS:
            import boto3

            _CLIENTS[endpoint_url] = (
                boto3.client("s3", endpoint_url=endpoint_url) if endpoint_url else boto3.client("s3")
            )
        return _CLIENTS[endpoint_url]


def read_remote_blocks(response: dict, *, s3: Any) -> list[pa.RecordBatch]:
    """Every spilled block of a RemoteReadRecordsResponse, decrypted, in write order."""
    schema = wire.decode_schema(response["schema"])
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
