"""Credentials with AppFlow's key names, read from the environment or a Secrets Manager secret."""

from __future__ import annotations

import hashlib
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson

from saasbridge.errors import ConfigError, aws_error_code

log = logging.getLogger("saasbridge.credentials")

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


LEASE_KEY = "saasbridgeRefreshLease"  # in the secret while a container refreshes: {"holder", "until"}
LEASE_SECONDS = 20.0  # a refresh lease not ended by then (its holder died) may be taken over
PENDING_STAGE = "SAASBRIDGE_PENDING"  # the label a version carries until it is made current
SAVE_ATTEMPTS = 10


class SecretTokenStore:
    """The secret OAuth2 tokens come from, read again on demand: a rotated refresh token is written
    back (the other keys kept), so the next container starts from it; an access token another
    party refreshed is picked up.

    Every write is conditional on the version read: the new version is put under a label of its
    own and made AWSCURRENT only if AWSCURRENT is still on the version read
    (UpdateSecretVersionStage refuses otherwise); on a conflict the secret is read again. A refresh
    runs under a lease held the same way (`lease()`), so that containers refreshing at once use
    the refresh token one after the other and the tokens stay one chain (needs
    secretsmanager:PutSecretValue and secretsmanager:UpdateSecretVersionStage)."""

    def __init__(self, arn_or_name: str, *, client: Any = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self.arn = arn_or_name
        self._client = client
        self._clock = clock
        self._sleep = sleep
        self._claim: tuple[str, dict[str, Any]] | None = None  # (version id, values) of the lease held

    def _sm(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client

    def _current(self) -> tuple[dict[str, Any], str | None]:
        """The values of the current version, and its VersionId."""
        try:
            answer = self._sm().get_secret_value(SecretId=self.arn)
            values = orjson.loads(answer["SecretString"])
        except Exception as exc:
            code = aws_error_code(exc)
            raise ConfigError(f"cannot read secret {self.arn!r} ({code}); check SAASBRIDGE_SECRET_ARN") from None
        return (values if isinstance(values, dict) else {}), answer.get("VersionId")

    def _values(self) -> dict[str, Any]:
        return self._current()[0]

    def _write(self, values: dict[str, Any], read_version: str | None) -> str | None:
        """Make `values` the current version if the current one is still `read_version`; the new
        VersionId, or None when another writer came first."""
        version = str(uuid.uuid4())
        try:
            self._sm().put_secret_value(SecretId=self.arn, SecretString=orjson.dumps(values).decode(),
                                        ClientRequestToken=version, VersionStages=[PENDING_STAGE])
            self._sm().update_secret_version_stage(SecretId=self.arn, VersionStage="AWSCURRENT",
                                                   MoveToVersionId=version, RemoveFromVersionId=read_version)
        except Exception as exc:
            code = aws_error_code(exc)
            if code == "InvalidParameterException":  # AWSCURRENT has moved on since it was read
                return None
            raise ConfigError(
                f"cannot write the rotated refresh token to secret {self.arn!r} ({code}); allow "
                "secretsmanager:PutSecretValue and secretsmanager:UpdateSecretVersionStage on it"
            ) from None
        return version

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

    @contextmanager
    def lease(self) -> Iterator[str | None]:
        """Hold the secret's refresh lease while refreshing: waits while another container holds
        one, then yields the refresh token the secret holds now (the one to use). `save` inside
        commits the rotated token and ends the lease; leaving without a save ends it too."""
        holder = uuid.uuid4().hex
        give_up = self._clock() + 2 * LEASE_SECONDS
        while True:
            values, version = self._current()
            held = values.get(LEASE_KEY)
            now = self._clock()
            if now > give_up:
                raise ConfigError(f"the OAuth2 refresh lease in secret {self.arn!r} stayed taken for over "
                                  f"{2 * LEASE_SECONDS:.0f} s (other containers refreshing); retry later")
            if isinstance(held, dict) and _number(held.get("until")) > now:
                self._sleep(0.05 + random.random() * 0.1)  # another container refreshes: wait for its token
                continue
            claimed = self._write({**values, LEASE_KEY: {"holder": holder, "until": now + LEASE_SECONDS}}, version)
            if claimed is not None:
                break
        values.pop(LEASE_KEY, None)
        self._remember(values)
        self._claim = (claimed, values)
        try:
            token = values.get("refreshToken")
            yield str(token) if token else None
        finally:
            if self._claim is not None:  # no rotated token to commit: give the lease back
                version, values = self._claim
                self._claim = None
                try:
                    self._write(values, version)  # refused only when the lease was taken over
                except ConfigError as exc:  # it expires by itself; what went wrong before matters more
                    log.warning("%s", exc)

    def save(self, refresh_token: str) -> None:
        """Write a rotated refresh token back: under the lease, conditional on it (and ending it);
        otherwise conditional on the version read, read again on a conflict."""
        if self._claim is not None:
            version, values = self._claim
            self._claim = None
            values = {**values, "refreshToken": refresh_token}
            if self._write(values, version) is None:
                raise ConfigError(f"the OAuth2 refresh lease in secret {self.arn!r} was taken over before the "
                                  "rotated refresh token could be written; refresh took too long")
            self._remember(values)
            return
        for _ in range(SAVE_ATTEMPTS):
            values, version = self._current()
            values = {**values, "refreshToken": refresh_token}
            if self._write(values, version) is not None:
                self._remember(values)
                return
        raise ConfigError(f"secret {self.arn!r} changed under each of {SAVE_ATTEMPTS} attempts to write the rotated "
                          "refresh token; too many writers at once")


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def clear_secret_cache() -> None:
    with _secret_lock:
        _secret_cache.clear()
