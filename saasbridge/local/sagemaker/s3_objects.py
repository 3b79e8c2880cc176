"""S3 objects as the stand-in's jobs read and write them (through the caller's S3 client)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from saasbridge.s3url import parse_s3_url


def object_keys(s3: Any, s3_uri: str) -> list[str]:
    """The keys of every object under an S3Prefix (folder markers left out), in key order."""
    source = parse_s3_url(s3_uri, "S3Uri")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=source.bucket, Prefix=source.key)
    return [o["Key"] for page in pages for o in page.get("Contents", []) if not o["Key"].endswith("/")]


def get_bytes(s3: Any, url: str) -> bytes:
    """The object at `url`; LookupError naming it when it cannot be read."""
    where = parse_s3_url(url, "the object URL", need_key=True)
    try:
        return s3.get_object(Bucket=where.bucket, Key=where.key)["Body"].read()
    except s3.exceptions.ClientError as exc:
        raise LookupError(f"cannot read {url}: {exc}") from None


def put_bytes(s3: Any, url: str, body: bytes) -> None:
    where = parse_s3_url(url, "the object URL", need_key=True)
    s3.put_object(Bucket=where.bucket, Key=where.key, Body=body)


def download_prefix(s3: Any, s3_uri: str, into: Path) -> int:
    """Every object under the S3Prefix into `into`, by its key relative to the prefix's folder (as
    SageMaker fills a File-mode channel); the number of objects."""
    source = parse_s3_url(s3_uri, "S3Uri")
    folder = source.key[: source.key.rfind("/") + 1]
    into.mkdir(parents=True, exist_ok=True)
    keys = object_keys(s3, s3_uri)
    for key in keys:
        target = (into / key[len(folder):]).resolve()
        if not target.is_relative_to(into.resolve()):
            raise LookupError(f"the object key {key!r} leaves the channel folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=source.bucket, Key=key)["Body"].read())
    return len(keys)
