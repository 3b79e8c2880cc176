"""Reading spilled blocks back (what Athena does with `remoteBlocks`), and the AES-GCM used by
both sides: 12-byte nonce, 16-byte tag appended, no associated data; `None` key = plaintext."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from athena_connector.protocol import ipc
from athena_connector.protocol.model import EncryptionKey, SpillLocation

GCM_TAG_BYTES = 16


def encrypt(data: bytes, key: EncryptionKey | None) -> bytes:
    return data if key is None else AESGCM(key.key).encrypt(key.nonce, data, None)


def decrypt(data: bytes, key: EncryptionKey | None) -> bytes:
    return data if key is None else AESGCM(key.key).decrypt(key.nonce, data, None)


def read_spilled_block(s3_client: Any, location: SpillLocation | dict, encryption_key: EncryptionKey | dict | None,
                       schema: pa.Schema) -> pa.RecordBatch:
    """Fetch, decrypt and decode one spilled block (what Athena does with remoteBlocks)."""
    if isinstance(location, dict):
        location = SpillLocation(location["bucket"], location["key"], bool(location.get("directory", False)))
    if isinstance(encryption_key, dict):
        encryption_key = EncryptionKey(ipc.b64decode(encryption_key["key"]), ipc.b64decode(encryption_key["nonce"]))
    body = s3_client.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
    return ipc.decode_batch_bytes(decrypt(body, encryption_key), schema)


def read_spilled_blocks(s3_client: Any, response: dict, schema: pa.Schema | None = None) -> Iterator[pa.RecordBatch]:
    """Every block of a RemoteReadRecordsResponse (JSON dict), in order."""
    schema = schema or ipc.decode_schema(response["schema"])
    for loc in response["remoteBlocks"]:
        yield read_spilled_block(s3_client, loc, response.get("encryptionKey"), schema)
