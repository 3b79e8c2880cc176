"""s3://bucket/prefix URIs."""

from __future__ import annotations

from saasbridge.errors import ConfigError


def split(uri: str, what: str = "--s3-uri") -> tuple[str, str]:
    """`s3://bucket/a/b` → ("bucket", "a/b") (the key without leading or trailing slashes)."""
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise ConfigError(f"{what} {uri!r}: expected s3://bucket/prefix")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key.strip("/")

