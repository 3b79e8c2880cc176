"""`s3://bucket/key` URLs: the one parser every layer uses."""

from __future__ import annotations

from dataclasses import dataclass

from saasbridge.errors import ConfigError

SCHEME = "s3://"


@dataclass(frozen=True)
class S3Url:
    bucket: str
    key: str  # as written after the bucket's slash: may be empty or end with "/" (a folder)

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    @property
    def prefix(self) -> str:
        """The key without leading or trailing slashes (a prefix to list or write under)."""
        return self.key.strip("/")

    @property
    def name(self) -> str:
        """The key's last part (`model.tar.gz` of `s3://b/churn/model.tar.gz`)."""
        return self.key.rstrip("/").rpartition("/")[2]


def is_s3_url(text: str) -> bool:
    return text.startswith(SCHEME)


def parse_s3_url(url: str, what: str = "S3 URL", *, need_key: bool = False) -> S3Url:
    """`url` as bucket and key; a one-line ConfigError naming `what` when it is not `s3://bucket/…`
    (or names no object while `need_key`)."""
    bucket, _, key = url[len(SCHEME) :].partition("/") if is_s3_url(url) else ("", "", "")
    if not bucket or any(c.isspace() for c in bucket):
        expected = "s3://bucket/key" if need_key else "s3://bucket/prefix"
        raise ConfigError(f"{what} {url!r} is not an S3 URL; expected {expected}")
    if need_key and not key.strip("/"):
        raise ConfigError(f"{what} {url!r} names a bucket but no object; expected s3://{bucket}/key")
    return S3Url(bucket, key)
