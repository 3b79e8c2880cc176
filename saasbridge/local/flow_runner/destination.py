"""Where a flow run's files go: a local directory or an S3 prefix (the moto server locally via
`AWS_ENDPOINT_URL`, real S3 with real credentials). Files are staged locally and published whole."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from saasbridge.errors import ConfigError, aws_error_code
from saasbridge.s3url import is_s3_url, parse_s3_url


class Destination:
    """`staging(rel)` gives a local path to write; `publish(rel)` makes it visible at `uri(rel)`."""

    def uri(self, rel: str) -> str:
        raise NotImplementedError

    def staging(self, rel: str) -> Path:
        raise NotImplementedError

    def publish(self, rel: str) -> int:
        """Publish a staged file; returns its size in bytes."""
        raise NotImplementedError

    def discard(self, rel: str) -> None:
        """Remove a staged file that will not be published."""
        raise NotImplementedError

    def read_text(self, rel: str) -> str | None:
        raise NotImplementedError

    def write_text(self, rel: str, text: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Remove staging files."""


class LocalDestination(Destination):
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"--to {self.root} is a file; give a directory or an s3:// URI")
        # the folder is made at the first file; say now, not after the first pages, if it cannot be
        existing = next(p for p in (self.root, *self.root.parents) if p.exists())
        if not existing.is_dir():
            raise ConfigError(f"--to {self.root}: {existing} is a file, so no folder can be made there; give a "
                              "directory or an s3:// URI")

    def uri(self, rel: str) -> str:
        return str(self.root / rel)

    def staging(self, rel: str) -> Path:
        path = self.root / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--to {self.root}: cannot make {path.parent} ({exc.strerror}); choose a folder you can "
                              "write to") from None
        return path

    def publish(self, rel: str) -> int:
        return (self.root / rel).stat().st_size

    def discard(self, rel: str) -> None:
        """Staged files are in place here: remove the file and the folders it leaves empty."""
        path = self.root / rel
        path.unlink(missing_ok=True)
        for parent in path.parents:
            if parent == self.root or not parent.is_relative_to(self.root) or any(parent.iterdir()):
                break
            parent.rmdir()

    def read_text(self, rel: str) -> str | None:
        path = self.root / rel
        return path.read_text() if path.exists() else None

    def write_text(self, rel: str, text: str) -> None:
        path = self.staging(rel)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)  # atomic: a crash never leaves half a state file


class S3Destination(Destination):
    def __init__(self, bucket: str, prefix: str, *, client=None):
        import boto3

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = client or boto3.client("s3")
        self._stage = Path(tempfile.mkdtemp(prefix="saasbridge-extract-"))

    def _key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def uri(self, rel: str) -> str:
        return f"s3://{self.bucket}/{self._key(rel)}"

    def staging(self, rel: str) -> Path:
        path = self._stage / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def publish(self, rel: str) -> int:
        path = self._stage / rel
        size = path.stat().st_size
        with path.open("rb") as body:
            self._call("put_object", Bucket=self.bucket, Key=self._key(rel), Body=body)
        path.unlink()
        return size

    def discard(self, rel: str) -> None:
        (self._stage / rel).unlink(missing_ok=True)

    def read_text(self, rel: str) -> str | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(rel))
        except self.client.exceptions.NoSuchKey:
            return None
        except Exception as exc:
            raise self._error(exc, "read") from None
        return answer["Body"].read().decode()

    def write_text(self, rel: str, text: str) -> None:
        self._call("put_object", Bucket=self.bucket, Key=self._key(rel), Body=text.encode())

    def _call(self, method: str, **kwargs):
        try:
            return getattr(self.client, method)(**kwargs)
        except Exception as exc:
            raise self._error(exc, "write") from None

    def _error(self, exc: Exception, verb: str) -> ConfigError:
        code = aws_error_code(exc)
        hint = (
            "create the bucket first"
            if code == "NoSuchBucket"
            else "check AWS credentials, region or AWS_ENDPOINT_URL"
        )
        return ConfigError(f"cannot {verb} s3://{self.bucket}/{self.prefix} ({code}); {hint}")

    def close(self) -> None:
        shutil.rmtree(self._stage, ignore_errors=True)


def open_destination(uri: str) -> Destination:
    """`s3://bucket/prefix`, `file:///dir` or a directory path."""
    if is_s3_url(uri):
        where = parse_s3_url(uri, "--to")
        return S3Destination(where.bucket, where.prefix)
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return LocalDestination(parts.path)
    if parts.scheme and len(parts.scheme) > 1:
        raise ConfigError(f"--to {uri!r}: unsupported scheme {parts.scheme!r}; use s3://… or a directory")
    return LocalDestination(uri)


def read_source_bytes(uri: str) -> tuple[str, bytes]:
    """(file name, content) of a local file or an s3:// object (the write-back input)."""
    if is_s3_url(uri):
        import boto3

        where = parse_s3_url(uri, "--from", need_key=True)
        try:
            body = boto3.client("s3").get_object(Bucket=where.bucket, Key=where.key)["Body"].read()
        except Exception as exc:
            code = aws_error_code(exc)
            raise ConfigError(f"cannot read {uri} ({code}); check the URI and AWS credentials") from None
        return where.name, body
    parts = urlsplit(uri)
    path = Path(parts.path if parts.scheme == "file" else uri).expanduser()
    if not path.is_file():
        raise ConfigError(f"--from {uri}: no such file")
    return path.name, path.read_bytes()
