"""Runtime: the catalog and a SaaS client built from the environment; one per Lambda container."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from saasbridge.catalog.model import Catalog
from saasbridge.client.auth import AuthStrategy
from saasbridge.client.client import SaasClient
from saasbridge.client.credentials import (
    Credentials,
    SecretTokenStore,
    credentials_from_env,
    credentials_from_secret,
)
from saasbridge.client.http import Transport
from saasbridge.client.ratelimit import RateLimiter
from saasbridge.errors import CatalogError

CATALOG_ENV = "SAASBRIDGE_CATALOG"


def default_catalog_path() -> Path:
    """The bundled reference API catalog, `demo_saas/catalog.yaml` (found without importing
    demo_saas, which may pull in local-only packages)."""
    spec = importlib.util.find_spec("demo_saas")
    if spec is None or not spec.submodule_search_locations:
        raise CatalogError(f"the bundled demo catalog is missing (no demo_saas package); set {CATALOG_ENV}")
    return Path(next(iter(spec.submodule_search_locations))) / "catalog.yaml"


def catalog_path(env: Mapping[str, str] | None = None) -> Path:
    """The catalog this deployment serves: `$SAASBRIDGE_CATALOG`, else the bundled demo catalog."""
    named = (os.environ if env is None else env).get(CATALOG_ENV)
    return Path(named) if named else default_catalog_path()


class Runtime:
    """Holds what outlives one invocation: the catalog, the credentials (read on first use), one
    connection pool, one rate budget and one auth strategy (so an OAuth2 token is reused)."""

    def __init__(self, catalog: Catalog, env: Mapping[str, str] | None = None):
        self.catalog = catalog
        self.env = dict(os.environ if env is None else env)
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None
        self._transport: Transport | None = None
        self._limiter: RateLimiter | None = None
        self._auth: AuthStrategy | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Runtime:
        """`SAASBRIDGE_CATALOG` (default: the bundled demo catalog), `SAASBRIDGE_API_URL` (overrides
        the catalog's base URL), credentials from `SAASBRIDGE_API_KEY` … or `SAASBRIDGE_SECRET_ARN`."""
        from saasbridge.catalog import load_catalog

        env = os.environ if env is None else env
        catalog = load_catalog(catalog_path(env), env=env)
        api_url = env.get("SAASBRIDGE_API_URL")
        if api_url:
            catalog = dataclasses.replace(catalog, base_url=api_url.rstrip("/"))
        return cls(catalog, env)

    @property
    def credentials(self) -> Credentials:
        """From the secret named by `SAASBRIDGE_SECRET_ARN` when set, else from the environment."""
        with self._lock:
            if self._credentials is None:
                arn = self.env.get("SAASBRIDGE_SECRET_ARN")
                self._credentials = credentials_from_secret(arn) if arn else credentials_from_env(self.env)
            return self._credentials

    def client(self) -> SaasClient:
        """A client with fresh stats on the runtime's shared pool, rate budget and auth.

        Raises ConfigError naming the variable to set when the credentials the catalog's auth
        needs are missing."""
        credentials = self.credentials
        with self._lock:
            client = SaasClient(
                self.catalog,
                credentials,
                transport=self._transport,
                rate_budget=self._limiter,
                auth=self._auth,
                token_store=SecretTokenStore(arn) if (arn := self.env.get("SAASBRIDGE_SECRET_ARN")) else None,
            )
            if self._transport is None:  # the first client builds what the later ones share
                self._transport, self._limiter, self._auth = client.transport, client.rate_limiter, client.auth
            return client

    def __repr__(self) -> str:
        return f"Runtime(catalog={self.catalog.name!r}, base_url={self.catalog.base_url!r})"
