"""The AWS event-stream wire format (application/vnd.amazon.eventstream) for
InvokeEndpointWithResponseStream answers: each message is a prelude (total and headers length,
CRC32), string headers, the payload and a CRC32 of it all. botocore ships only the decoder
(botocore.eventstream), so the stand-in encodes here; tests decode with botocore's parser."""

from __future__ import annotations

import json
import struct
import zlib

STRING_HEADER = 7  # the header value type "string"
CONTENT_TYPE = "application/vnd.amazon.eventstream"


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message."""
    encoded = b"".join(
        struct.pack("!B", len(name)) + name.encode() + struct.pack("!BH", STRING_HEADER, len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )  # fmt: skip
    prelude = struct.pack("!II", 16 + len(encoded) + len(payload), len(encoded))
    head = prelude + struct.pack("!I", zlib.crc32(prelude)) + encoded + payload
    return head + struct.pack("!I", zlib.crc32(head))


def event(event_type: str, payload: bytes) -> bytes:
    """An event message (e.g. a PayloadPart carrying `payload`)."""
    return encode_message(
        {":event-type": event_type, ":content-type": "application/octet-stream", ":message-type": "event"}, payload
    )


def exception(exception_type: str, message: str, **fields: str) -> bytes:
    """An exception message (ModelStreamError, InternalStreamFailure) ending a stream."""
    body = json.dumps({"Message": message, **fields}).encode()
    return encode_message(
        {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}, body
    )
