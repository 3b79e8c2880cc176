"""The connector's settings, from the environment names Athena connectors use."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from athena_connector.errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    spill_bucket: str | None = None
    spill_prefix: str = "athena-federation-spill"
    disable_spill_encryption: bool = False
    kms_key_id: str | None = None
    spill_put_request_headers: dict[str, str] = field(default_factory=dict)
    max_splits: int = 32  # upper bound; the planner also caps by the API's concurrency
    splits_per_page: int = 1000  # GetSplits page size (continuation token beyond)
    min_pages_per_split: int = 5  # a split must be worth this many pages (catalog rows_per_day)
    pages_in_flight: int = 4  # page requests a split keeps running where the next pages are known

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        bucket = (env.get("spill_bucket") or "").strip() or None
        if bucket and ("/" in bucket or bucket.startswith("s3:")):
            raise ConfigurationError(
                f"spill_bucket {bucket!r} must be a bare bucket name (no s3:// and no '/'); "
                "put any path into spill_prefix"
            )
        headers_text = env.get("spill_put_request_headers") or ""
        try:
            headers = json.loads(headers_text) if headers_text else {}
            if not isinstance(headers, dict):
                raise ValueError
        except ValueError:
            raise ConfigurationError("spill_put_request_headers must be a JSON object of PutObject "
                                     "parameters, e.g. {\"ServerSideEncryption\": \"AES256\"}") from None
        return cls(
            spill_bucket=bucket,
            spill_prefix=(env.get("spill_prefix") or "athena-federation-spill").strip("/"),
            disable_spill_encryption=(env.get("disable_spill_encryption") or "").strip().lower() == "true",
            kms_key_id=(env.get("kms_key_id") or "").strip() or None,
            spill_put_request_headers={str(k): str(v) for k, v in headers.items()},
            max_splits=_positive(env, "SAASBRIDGE_ATHENA_MAX_SPLITS", 32),
            splits_per_page=_positive(env, "SAASBRIDGE_ATHENA_SPLITS_PER_PAGE", 1000),
            min_pages_per_split=_positive(env, "SAASBRIDGE_ATHENA_MIN_PAGES_PER_SPLIT", 5),
            pages_in_flight=_positive(env, "SAASBRIDGE_ATHENA_PAGES_IN_FLIGHT", 4),
        )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if not text:
        return default
    try:
        value = int(text)
        if value < 1:
            raise ValueError
    except ValueError:
        raise ConfigurationError(f"{name} must be a positive integer, got {text!r}") from None
    return value
