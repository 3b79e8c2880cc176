"""Spill: blocks too large to answer inline go to S3 as `<split key>.0`, `.1`, …, each one
legacy-framed RecordBatch message, AES-GCM encrypted (12-byte nonce, 16-byte tag appended, no
associated data) with the split's key unless encryption is disabled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from athena_connector.errors import SpillError
from athena_connector.protocol import ipc
from athena_connector.protocol.model import EncryptionKey, SpillLocation
from athena_connector.protocol.spilled import (
    GCM_TAG_BYTES,
    decrypt,
    encrypt,
    read_spilled_block,
    read_spilled_blocks,
)
from saasbridge.errors import aws_error_code

__all__ = ["BlockSpiller", "block_location", "decrypt", "encrypt", "read_spilled_block", "read_spilled_blocks"]


def block_location(directory: SpillLocation, index: int) -> SpillLocation:
    return SpillLocation(directory.bucket, f"{directory.key}.{index}", directory=False)


@dataclass
class BlockSpiller:
    """Writes blocks of one split to S3 in order; `locations` lists what was written."""

    s3: Any
    directory: SpillLocation
    key: EncryptionKey | None
    put_headers: dict[str, str] = field(default_factory=dict)
    locations: list[SpillLocation] = field(default_factory=list)
    bytes_written: int = 0

    def write(self, batch: pa.RecordBatch) -> SpillLocation:
        return self.write_message(ipc.batch_bytes(batch, legacy=True))

    def object_size(self, message: bytes) -> int:
        """Bytes of the S3 object a legacy-framed RecordBatch message becomes (the GCM tag added)."""
        return len(message) + (0 if self.key is None else GCM_TAG_BYTES)

    def write_message(self, message: bytes) -> SpillLocation:
        """Write one legacy-framed RecordBatch message (`ipc.batch_bytes(batch, legacy=True)`)."""
        location = block_location(self.directory, len(self.locations))
        body = encrypt(message, self.key)
        try:
            self.s3.put_object(Bucket=location.bucket, Key=location.key, Body=body, **self.put_headers)
        except Exception as exc:  # botocore errors carry no secrets; keep only their class and code
            code = aws_error_code(exc)
            raise SpillError(
                f"cannot write spill object s3://{location.bucket}/{location.key} ({code}); check that the "
                "spill bucket exists and the Lambda role may s3:PutObject to it"
            ) from None
        self.locations.append(location)
        self.bytes_written += len(body)
        return location
