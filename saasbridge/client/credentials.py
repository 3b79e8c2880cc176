"""Credentials with AppFlow's key names, read from the environment or a Secrets Manager secret."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from saasbridge.errors import ConfigError, aws_error_code

# AppFlow's secret key name -> the environment variable that carries it locally.
ENV_VARS: dict[str, str] = {
    "apiKey": "SAASBRIDGE_API_KEY",
    "username": "SAASBRIDGE_USERNAME",
    "password": "SAASBRIDGE_PASSWORD",
    "clientId": "SAASBRIDGE_CLIENT_ID",
    "clientSecret": "SAASBRIDGE_CLIENT_SECRET",
    "accessToken": "SAASBRIDGE_ACCESS_TOKEN",
    "refreshToken": "SAASBRIDGE_REFRESH_TOKEN",
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
        code = aws_error_code(exc)
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


class SecretTokenStore:
    """The secret OAuth2 tokens come from, read again on demand: a rotated refresh token is written
    back (the other keys kept), so the next container starts from it (needs
    secretsmanager:PutSecretValue); an access token another party refreshed is picked up."""

    def __init__(self, arn_or_name: str, *, client: Any = None):
        self.arn = arn_or_name
        self._client = client

    def _sm(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client

    def _values(self) -> dict[str, Any]:
        try:
            values = orjson.loads(self._sm().get_secret_value(SecretId=self.arn)["SecretString"])
        except Exception as exc:
            code = aws_error_code(exc)
            raise ConfigError(f"cannot read secret {self.arn!r} ({code}); check SAASBRIDGE_SECRET_ARN") from None
        return values if isinstance(values, dict) else {}

    def _remember(self, values: dict[str, Any]) -> None:
        """Later readers in this container start from these values."""
        with _secret_lock:
            _secret_cache[self.arn] = (time.monotonic(), Credentials(values, source=f"secret {self.arn}"))

    def read(self, key: str) -> str | None:
        """A key's value as the secret holds it now (read again; the cache takes the new values)."""
        values = self._values()
        self._remember(values)
        token = values.get(key)
        return str(token) if token else None

    def load(self) -> str | None:
        """The refresh token the secret holds now."""
        return self.read("refreshToken")

    def save(self, refresh_token: str) -> None:
        values = {**self._values(), "refreshToken": refresh_token}
        try:
            self._sm().put_secret_value(SecretId=self.arn, SecretString=orjson.dumps(values).decode())
        except Exception as exc:
            code = aws_error_code(exc)
            raise ConfigError(
                f"cannot write the rotated refresh token to secret {self.arn!r} ({code}); allow "
                "secretsmanager:PutSecretValue on it"
            ) from None
        self._remember(values)


def clear_secret_cache() -> None:
    with _secret_lock:
        _secret_cache.clear()
