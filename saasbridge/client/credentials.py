"""Credentials with AppFlow's key names, read from the environment or a Secrets Manager secret."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from saasbridge.errors import ConfigError

# AppFlow's secret key name -> the environment variable that carries it locally.
ENV_VARS: dict[str, str] = {
    "apiKey": "SAASBRIDGE_API_KEY",
    "username": "SAASBRIDGE_USERNAME",
    "password": "SAASBRIDGE_PASSWORD",
    "clientId": "SAASBRIDGE_CLIENT_ID",
    "clientSecret": "SAASBRIDGE_CLIENT_SECRET",
    "accessToken": "SAASBRIDGE_ACCESS_TOKEN",
}
KEYS: tuple[str, ...] = tuple(ENV_VARS)

SECRET_CACHE_SECONDS = 300.0


class Credentials(Mapping[str, str]):
    """A read-only mapping of credential values. Its repr/str name the keys, never the values."""

    def __init__(self, values: Mapping[str, Any] | None = None, *, source: str = "given"):
        self._values = {k: str(v) for k, v in (values or {}).items() if k in ENV_VARS and v not in (None, "")}
        self.source = source

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Credentials(keys={sorted(self._values)}, source={self.source!r})"

    __str__ = __repr__

    def identity(self) -> str:
        """A short one-way fingerprint, to tell credential sets apart without storing them."""
        digest = hashlib.sha256()
        for key in sorted(self._values):
            digest.update(f"{key}\0{self._values[key]}\0".encode())
        return digest.hexdigest()[:16]

    def redact(self, text: str) -> str:
        """`text` with every credential value replaced by `***`."""
        for value in sorted(self._values.values(), key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "***")
        return text


def credentials_from_env(env: Mapping[str, str] | None = None) -> Credentials:
    """Credentials from `SAASBRIDGE_API_KEY`, `SAASBRIDGE_USERNAME`, … (unset ones are left out)."""
    env = os.environ if env is None else env
    return Credentials({key: env.get(var) for key, var in ENV_VARS.items()}, source="environment")


_secret_cache: dict[str, tuple[float, Credentials]] = {}
_secret_lock = threading.Lock()


def credentials_from_secret(arn_or_name: str, *, client: Any = None) -> Credentials:
    """Credentials from a Secrets Manager secret (a JSON object with AppFlow's key names).

    Unknown keys are ignored. Results are cached per ARN for a few minutes, so a warm Lambda does
    not call Secrets Manager on every invocation.
    """
    now = time.monotonic()
    with _secret_lock:
        cached = _secret_cache.get(arn_or_name)
        if cached and now - cached[0] < SECRET_CACHE_SECONDS:
            return cached[1]
    if client is None:
        import boto3  # lazily: only deployments that use a secret pay for the import

        client = boto3.client("secretsmanager")
    try:
        answer = client.get_secret_value(SecretId=arn_or_name)
    except Exception as exc:  # botocore errors carry a code; never the secret
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
        raise ConfigError(
            f"cannot read secret {arn_or_name!r} ({code}); check SAASBRIDGE_SECRET_ARN and that the "
            "role may call secretsmanager:GetSecretValue on it"
        ) from None
    text = answer.get("SecretString")
    if text is None and answer.get("SecretBinary") is not None:
        text = answer["SecretBinary"]
    try:
        values = orjson.loads(text)
    except (orjson.JSONDecodeError, TypeError):
        values = None
    if not isinstance(values, dict):
        raise ConfigError(
            f"secret {arn_or_name!r} is not a JSON object; store keys such as "
            '{"apiKey": "…"} or {"clientId": "…", "clientSecret": "…"}'
        )
    credentials = Credentials(values, source=f"secret {arn_or_name}")
    with _secret_lock:
        _secret_cache[arn_or_name] = (now, credentials)
    return credentials


def clear_secret_cache() -> None:
    with _secret_lock:
        _secret_cache.clear()
