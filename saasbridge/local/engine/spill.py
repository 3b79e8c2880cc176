"""Reading the blocks a connector spilled to S3 (RemoteReadRecordsResponse), as Athena does."""

from __future__ import annotations

import base64
import threading
from typing import Any

import pyarrow as pa

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
    key_doc = response.get("encryptionKey")
    cipher = None
    nonce = b""
    if key_doc:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        cipher = AESGCM(base64.b64decode(key_doc["key"]))
        nonce = base64.b64decode(key_doc["nonce"])
    batches = []
    for location in response.get("remoteBlocks") or []:
        bucket, key = location["bucket"], location["key"]
        try:
            data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:  # botocore ClientError / connection errors
            raise QueryError(f"cannot read spilled block s3://{bucket}/{key}: {exc}") from exc
        if cipher is not None:
            try:
                data = cipher.decrypt(nonce, data, None)
            except Exception as exc:  # InvalidTag: wrong key or tampered object
                raise QueryError(
                    f"spilled block s3://{bucket}/{key} does not decrypt with the split's key"
                ) from exc
        batches.append(wire.decode_batch(data, schema))
    return batches
