"""What one AppFlow call works with: the catalog, the API base URL from the runtime settings, and a
SaasClient authenticated with the Secrets Manager secret named in the event."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from custom_connector_sdk.lambda_handler.responses import ErrorCode

from appflow_connector.errors import ConnectorError
from saasbridge.catalog.model import Catalog, Entity
from saasbridge.client.stats import UsageMeter
from saasbridge.errors import ConfigError, UnknownEntityError

INSTANCE_URL = "instanceUrl"  # runtime setting: the API base URL (CONNECTOR_PROFILE scope)
PAGE_SIZE = "pageSize"  # runtime setting: records per API request (SOURCE_AND_DESTINATION)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

_catalog: Catalog | None = None
_catalog_lock = threading.Lock()


def catalog() -> Catalog:
    """The catalog of this deployment (`SAASBRIDGE_CATALOG` or the bundled demo), loaded once."""
    global _catalog
    with _catalog_lock:
        if _catalog is None:
            from saasbridge.catalog import load_catalog
            from saasbridge.runtime import catalog_path

            _catalog = load_catalog(catalog_path())
        return _catalog


def reset() -> None:
    """Forget the cached catalog (tests that switch `SAASBRIDGE_CATALOG`)."""
    global _catalog
    with _catalog_lock:
        _catalog = None


def check_base_url(url: str) -> str | None:
    """Why `url` cannot be the API base URL, or None when it can."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an absolute https:// URL, e.g. https://api.example.com"
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return "must use https (plain http is only accepted for 127.0.0.1/localhost)"
    return None


def check_page_size(value: str, maximum: int) -> str | None:
    try:
        size = int(value)
    except (TypeError, ValueError):
        return f"must be an integer between 1 and {maximum}"
    return None if 1 <= size <= maximum else f"must be an integer between 1 and {maximum}"


def catalog_for(settings: Mapping[str, str] | None) -> Catalog:
    """The catalog with the base URL the runtime settings (or `SAASBRIDGE_API_URL`) name."""
    base = catalog()
    url = (settings or {}).get(INSTANCE_URL) or os.environ.get("SAASBRIDGE_API_URL")
    if not url:
        return base
    problem = check_base_url(url)
    if problem:
        raise ConnectorError(ErrorCode.InvalidArgument, f"runtime setting {INSTANCE_URL} {problem}")
    return dataclasses.replace(base, base_url=url.rstrip("/"))


def resolve_entity(cat: Catalog, identifier: str) -> Entity:
    """The entity AppFlow names, or InvalidArgument when the catalog has none by that name."""
    try:
        return cat.entity(identifier)
    except UnknownEntityError as exc:
        raise ConnectorError(ErrorCode.InvalidArgument, f"Unknown entity: {exc}") from None


def page_size(settings: Mapping[str, str] | None, maximum: int) -> int | None:
    value = (settings or {}).get(PAGE_SIZE)
    if value in (None, ""):
        return None
    problem = check_page_size(value, maximum)
    if problem:
        raise ConnectorError(ErrorCode.InvalidArgument, f"runtime setting {PAGE_SIZE} {problem}")
    return int(value)


def credentials_for(secret_arn: str | None):
    """Credentials from the secret named in the event (the only source AppFlow allows)."""
    from saasbridge.client.credentials import credentials_from_secret

    if not secret_arn:
        raise ConnectorError(ErrorCode.InvalidArgument, "the event names no credentials.secretArn")
    try:
        return credentials_from_secret(secret_arn)
    except ConfigError as exc:
        text = str(exc)
        if "ResourceNotFound" in text:
            code = ErrorCode.ResourceNotFoundError
        elif "AccessDenied" in text:
            code = ErrorCode.AccessDenied
        else:
            code = ErrorCode.InvalidArgument
        raise ConnectorError(code, text) from None
    except Exception as exc:  # boto3 misconfiguration (region, endpoint): say so without details
        raise ConnectorError(
            ErrorCode.ServerError,
            f"cannot read secret {secret_arn!r}: Secrets Manager client failed ({type(exc).__name__})",
        ) from None


_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


_meter: contextvars.ContextVar[UsageMeter | None] = contextvars.ContextVar("appflow_meter", default=None)


@contextlib.contextmanager
def metered() -> Iterator[UsageMeter]:
    """One call's usage meter: the clients `client_for` hands out while it is open count into it."""
    with UsageMeter() as meter:
        token = _meter.set(meter)
        try:
            yield meter
        finally:
            _meter.reset(token)


def client_for(cat: Catalog, secret_arn: str | None):
    """A SaasClient for this catalog and secret, reused across calls of a warm container."""
    from saasbridge.client import SaasClient
    from saasbridge.client.auth import stored_token_auth
    from saasbridge.client.credentials import SecretTokenStore

    creds = credentials_for(secret_arn)
    key = (id(catalog()), cat.base_url, creds.identity())
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            store = SecretTokenStore(str(secret_arn))  # credentials_for refused an event without one
            client = SaasClient(cat, creds, auth=stored_token_auth(cat.auth, creds, lambda: store.read("accessToken")))
            _clients.clear()  # one live client per container is plenty; drop stale credentials
            _clients[key] = client
        meter = _meter.get()
        return meter.watch(client) if meter is not None else client
