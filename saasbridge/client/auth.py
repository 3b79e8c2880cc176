"""Auth styles: one small class each. `apply` adds what a request needs; after a 401, `refresh`
says whether a fresh credential was obtained and the request is worth one more try."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urljoin

from saasbridge.catalog.model import Auth
from saasbridge.client.credentials import ENV_VARS, Credentials
from saasbridge.client.http import Response, display_url
from saasbridge.errors import AuthenticationError, ConfigError

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

    def _fetch(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        if self._scopes:
            form["scope"] = " ".join(self._scopes)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        asked_at = self._clock()
        self.fetches += 1
        response = self._send("POST", self.token_url, headers, urlencode(form).encode())
        fix = (
            f"check {ENV_VARS['clientId']} / {ENV_VARS['clientSecret']} "
            "(secret keys clientId / clientSecret) and the catalog's auth.token_url"
        )
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
) -> AuthStrategy:
    """The strategy the catalog's `auth` asks for. Raises ConfigError naming what to set."""
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
    if auth.type == "oauth2_client_credentials":
        client_id, client_secret = _need(credentials, "oauth2_client_credentials", "clientId", "clientSecret")
        if not auth.token_url:
            raise ConfigError("auth type 'oauth2_client_credentials' needs auth.token_url in the catalog")
        return OAuth2ClientCredentials(
            urljoin(base_url.rstrip("/") + "/", auth.token_url.lstrip("/"))
            if "://" not in auth.token_url
            else auth.token_url,
            client_id,
            client_secret,
            send=send,
            scopes=auth.scopes,
            refresh_margin=auth.refresh_margin_seconds,
            clock=clock,
        )
    raise ConfigError(
        f"unknown auth type {auth.type!r}; use none, bearer, api_key, basic or oauth2_client_credentials"
    )
