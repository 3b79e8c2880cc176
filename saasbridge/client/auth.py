"""Auth styles: one small class each. `apply` adds what a request needs; after a 401, `refresh`
says whether a fresh credential was obtained and the request is worth one more try."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlencode, urljoin

from saasbridge.catalog.model import Auth
from saasbridge.client.credentials import ENV_VARS, Credentials
from saasbridge.client.http import Response, display_url
from saasbridge.errors import AuthenticationError, ConfigError

log = logging.getLogger("saasbridge.client")

# Sends one request without auth, with the client's retries: (method, url, headers, body).
Sender = Callable[[str, str, dict[str, str], bytes], Response]


class AuthStrategy:
    """No auth. Subclasses add headers or query parameters."""

    secret_params: frozenset[str] = frozenset()  # query parameters that carry a credential

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> object:
        """Add credentials to a request; return a marker of what was used (for `refresh`)."""
        return None

    def refresh(self, used: object) -> bool:
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NoAuth(AuthStrategy):
    pass


class HeaderAuth(AuthStrategy):
    """A fixed header: bearer token (`Authorization: Bearer …`) or an API key header."""

    def __init__(self, header: str, value: str):
        self._header = header
        self._value = value

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> object:
        headers[self._header] = self._value
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(header={self._header!r})"


class BearerAuth(HeaderAuth):
    def __init__(self, token: str, *, header: str = "Authorization", prefix: str = "Bearer "):
        super().__init__(header, f"{prefix}{token}")


class ApiKeyHeaderAuth(HeaderAuth):
    pass


class ApiKeyQueryAuth(AuthStrategy):
    def __init__(self, param: str, key: str):
        self._param = param
        self._key = key
        self.secret_params = frozenset({param})

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> object:
        params[self._param] = self._key
        return None

    def __repr__(self) -> str:
        return f"ApiKeyQueryAuth(param={self._param!r})"


class BasicAuth(HeaderAuth):
    def __init__(self, username: str, password: str):
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        super().__init__("Authorization", f"Basic {token}")


class OAuth2ClientCredentials(AuthStrategy):
    """OAuth2 client-credentials grant. The token is cached, shared by all threads, fetched again
    `refresh_margin` seconds before it expires, and once more after a 401."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        send: Sender,
        scopes: tuple[str, ...] = (),
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._send = send
        self._scopes = scopes
        self._margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetches = 0  # how many tokens were requested (for tests and metrics)

    def _valid_token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - self._margin:
                self._token, self._expires_at = self._fetch()
            return self._token

    def _form(self) -> dict[str, str]:
        """The token request's form: the grant and what it needs."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        if self._scopes:
            form["scope"] = " ".join(self._scopes)
        return form

    def _fix(self) -> str:
        return (
            f"check {ENV_VARS['clientId']} / {ENV_VARS['clientSecret']} "
            "(secret keys clientId / clientSecret) and the catalog's auth.token_url"
        )

    def _accept(self, body: dict) -> None:
        """Hook: what else a token answer carries (a rotated refresh token)."""

    def _fetch(self) -> tuple[str, float]:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        asked_at = self._clock()
        self.fetches += 1
        response = self._send("POST", self.token_url, headers, urlencode(self._form()).encode())
        fix = self._fix()
        if not response.ok:
            raise AuthenticationError(
                f"OAuth2 token request to {display_url(self.token_url)} was refused (HTTP {response.status}); {fix}",
                status=response.status,
            )
        body: Any = response.json()
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthenticationError(
                f"OAuth2 token answer from {display_url(self.token_url)} has no access_token; {fix}"
            )
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 3600.0
        self._accept(body)
        return token, asked_at + lifetime

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> object:
        token = self._valid_token()
        headers["Authorization"] = f"Bearer {token}"
        return token

    def refresh(self, used: object) -> bool:
        with self._lock:
            if self._token == used:  # another thread may already have refreshed it
                self._token = None
        return True

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={display_url(self.token_url)!r})"


class TokenStore(Protocol):
    """Where a refresh token lives between runs (the Secrets Manager secret it came from). A
    store may also offer `lease()`, a context manager held while refreshing that yields the
    newest stored refresh token and ends with `save` (see SecretTokenStore)."""

    def load(self) -> str | None: ...

    def save(self, refresh_token: str) -> None: ...


class OAuth2RefreshToken(OAuth2ClientCredentials):
    """OAuth2 authorization-code grant after the user's consent: access tokens come from the
    refresh token. A provider that rotates refresh tokens answers with a new one; it replaces the
    old one here and in `store`. With a store that leases, each refresh starts from the store's
    newest token under its lease; otherwise a refused refresh reads the store once more, in case
    another container rotated the token meanwhile."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, refresh_token: str, *,
                 store: TokenStore | None = None, **kwargs: Any):
        super().__init__(token_url, client_id, client_secret, **kwargs)
        self._refresh_token = refresh_token
        self._store = store

    def _form(self) -> dict[str, str]:
        return {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }

    def _fix(self) -> str:
        return (
            f"check {ENV_VARS['refreshToken']} / {ENV_VARS['clientId']} / {ENV_VARS['clientSecret']} (secret keys "
            "refreshToken / clientId / clientSecret); a revoked refresh token needs a new authorization"
        )

    def _accept(self, body: dict) -> None:
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self._refresh_token:
            self._refresh_token = rotated
            if self._store is not None:
                try:
                    self._store.save(rotated)
                except ConfigError as exc:  # the old token is spent either way: keep serving, say so
                    log.error("%s; the next container will need a new authorization", exc)
            else:
                log.warning("the API rotated the OAuth2 refresh token; it is kept in memory only (set "
                            "SAASBRIDGE_SECRET_ARN to keep it in the secret)")

    def _fetch(self) -> tuple[str, float]:
        lease = getattr(self._store, "lease", None)
        if lease is not None:  # one container at a time uses the stored refresh token
            with lease() as newest:
                if newest:
                    self._refresh_token = newest
                return super()._fetch()
        try:
            return super()._fetch()
        except AuthenticationError:
            latest = self._store.load() if self._store is not None else None
            if not latest or latest == self._refresh_token:
                raise
            self._refresh_token = latest
            return super()._fetch()

    def __repr__(self) -> str:
        return f"OAuth2RefreshToken(token_url={display_url(self.token_url)!r})"


class StoredAccessToken(AuthStrategy):
    """The AppFlow path of the authorization-code grant: AppFlow runs the consent and refreshes
    the tokens it stores in the profile's secret, so requests use its access token as it is.
    After a 401 the secret is read once more (`reload`): when AppFlow has refreshed the token
    meanwhile, the request is retried with it; otherwise the 401 stands and tells AppFlow to
    refresh."""

    def __init__(self, token: str, reload: Callable[[], str | None] | None = None):
        self._token = token
        self._reload = reload
        self._lock = threading.Lock()

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> object:
        with self._lock:
            headers["Authorization"] = f"Bearer {self._token}"
            return self._token

    def refresh(self, used: object) -> bool:
        try:
            latest = self._reload() if self._reload is not None else None
        except ConfigError:  # the secret cannot be read now: the 401 stands
            latest = None
        with self._lock:
            if latest and latest != used:
                self._token = latest
                return True
            return self._token != used  # another thread already switched to a newer token


def stored_token_auth(
    auth: Auth, credentials: Credentials, reload: Callable[[], str | None] | None = None
) -> AuthStrategy | None:
    """`StoredAccessToken` for the authorization-code grant on the AppFlow path; None for other
    auth types. `reload` reads the access token the secret holds now."""
    if auth.type != "oauth2_authorization_code":
        return None
    (token,) = _need(credentials, auth.type, "accessToken")
    return StoredAccessToken(token, reload)


def _need(credentials: Credentials, auth_type: str, *keys: str) -> list[str]:
    missing = [k for k in keys if not credentials.get(k)]
    if missing:
        env = ", ".join(ENV_VARS[k] for k in missing)
        raise ConfigError(
            f"auth type {auth_type!r} needs {env} (or the secret keys {', '.join(missing)} in the "
            "secret named by SAASBRIDGE_SECRET_ARN)"
        )
    return [credentials[k] for k in keys]


def build_auth(
    auth: Auth,
    credentials: Credentials,
    *,
    base_url: str,
    send: Sender,
    clock: Callable[[], float] = time.monotonic,
    token_store: TokenStore | None = None,
) -> AuthStrategy:
    """The strategy the catalog's `auth` asks for. Raises ConfigError naming what to set.
    `token_store` keeps a rotated OAuth2 refresh token."""
    if auth.type == "none":
        return NoAuth()
    if auth.type == "bearer":
        token = credentials.get("accessToken") or credentials.get("apiKey")
        if not token:
            raise ConfigError(
                "auth type 'bearer' needs SAASBRIDGE_API_KEY or SAASBRIDGE_ACCESS_TOKEN (or the secret "
                "key apiKey or accessToken in the secret named by SAASBRIDGE_SECRET_ARN)"
            )
        return BearerAuth(token, header=auth.header, prefix=auth.prefix)
    if auth.type == "api_key":
        (key,) = _need(credentials, "api_key", "apiKey")
        if auth.query_param:
            return ApiKeyQueryAuth(auth.query_param, key)
        return ApiKeyHeaderAuth(auth.header, key)
    if auth.type == "basic":
        username, password = _need(credentials, "basic", "username", "password")
        return BasicAuth(username, password)
    if auth.type.startswith("oauth2_"):
        if not auth.token_url:
            raise ConfigError(f"auth type {auth.type!r} needs auth.token_url in the catalog")
        token_url = token_endpoint(auth, base_url)
        common: dict[str, Any] = {"send": send, "refresh_margin": auth.refresh_margin_seconds, "clock": clock}
        if auth.type == "oauth2_authorization_code":
            if not credentials.get("refreshToken") and credentials.get("accessToken"):
                return BearerAuth(credentials["accessToken"])  # no way to refresh it: use it while it lasts
            keys = _need(credentials, auth.type, "clientId", "clientSecret", "refreshToken")
            return OAuth2RefreshToken(token_url, *keys, store=token_store, **common)
        client_id, client_secret = _need(credentials, auth.type, "clientId", "clientSecret")
        return OAuth2ClientCredentials(token_url, client_id, client_secret, scopes=auth.scopes, **common)
    raise ConfigError(
        f"unknown auth type {auth.type!r}; use none, bearer, api_key, basic, oauth2_client_credentials or "
        "oauth2_authorization_code"
    )


def token_endpoint(auth: Auth, base_url: str) -> str:
    """The absolute token URL (a relative one is on the API's origin)."""
    url = auth.token_url or ""
    return url if "://" in url else urljoin(base_url.rstrip("/") + "/", url.lstrip("/"))
