"""The draft's `auth`: the scheme a production user signs in with today, the others as comments.

OpenAPI lists every scheme an API accepts, in no order of preference, and the same API may keep
a deprecated query-string key beside OAuth2. The draft takes bearer tokens and OAuth2 first,
then header keys and basic auth, and a key in the query string last (proxies log it; most APIs
have deprecated it)."""

from __future__ import annotations

import json
import re
from typing import Any

from saasbridge.catalog.openapi.document import Document
from saasbridge.catalog.openapi.notes import Noted

_DEPRECATED = re.compile(r"deprecat|legacy|sunset|no longer", re.I)


def draft_auth(document: Document) -> tuple[Noted, list[str]]:
    """(the chosen `auth`, comment lines listing the alternatives)."""
    schemes = {k: document.resolve(v) for k, v in (document.doc.get("components") or {}).get("securitySchemes", {}).items()}
    if not schemes:
        return Noted(type="none"), []
    token_url = (_flow(schemes, "clientCredentials") or {}).get("tokenUrl")
    ranked = sorted(
        (c for position, name in enumerate(_used_first(document, schemes))
         if (c := _candidate(name, schemes[name], schemes, token_url, position)) is not None),
        key=lambda c: c[0],
    )  # fmt: skip
    if not ranked:
        auth = Noted(type="bearer")
        auth.note("type", "guess: no security scheme the catalog knows (cookie, mutual TLS?); set auth by hand")
        return auth, []
    (_, name, chosen, why), *others = ranked
    auth = Noted(chosen)
    auth.note("type", f"scheme {name!r}: {why}" + ("; alternatives commented above" if others else ""))
    lines = ["other auth the document declares (replace `auth` with one of them):"]
    lines += [f"  {_flow_text(alt)}  # {alt_name}: {alt_why}" for _, alt_name, alt, alt_why in others]
    return auth, lines if others else []


def _used_first(document: Document, schemes: dict[str, Any]) -> list[str]:
    """Scheme names: those the document's security requirements name (global, then the
    operations', in order), then the other declared ones."""
    names: list[str] = []
    requirements = list(document.doc.get("security") or [])
    for item in document.paths.values():
        for operation in (item or {}).values():
            if isinstance(operation, dict):
                requirements += operation.get("security") or []
    for requirement in requirements:
        names += [n for n in requirement if n in schemes and n not in names]
    return names + [n for n in schemes if n not in names]


def _candidate(
    name: str, s: dict[str, Any], schemes: dict[str, Any], token_url: str | None, position: int
) -> tuple[tuple[int, int], str, dict[str, Any], str] | None:
    """(rank, scheme name, auth, why) for one scheme; None for schemes the catalog cannot use."""
    kind, scheme = s.get("type"), str(s.get("scheme", "")).lower()
    found: tuple[int, dict[str, Any], str] | None = None
    if kind == "http" and scheme == "bearer":
        found = 0, {"type": "bearer", **({"token_url": token_url} if token_url else {})}, \
            "a bearer token (SAASBRIDGE_ACCESS_TOKEN or SAASBRIDGE_API_KEY)"
    elif kind == "oauth2" and "clientCredentials" in (s.get("flows") or {}) and token_url:
        found = 1, {"type": "oauth2_client_credentials", "token_url": token_url}, "OAuth2 client credentials"
    elif kind == "oauth2" and (code := (s.get("flows") or {}).get("authorizationCode")) \
            and code.get("tokenUrl") and code.get("authorizationUrl"):
        found = 1, {"type": "oauth2_authorization_code", "token_url": code["tokenUrl"],
                    "auth_url": code["authorizationUrl"], "scopes": list(code.get("scopes") or [])}, \
            ("OAuth2 (clientId, clientSecret, refreshToken; an access or private-app token alone in "
             "SAASBRIDGE_ACCESS_TOKEN is sent as a bearer token)")
    elif kind == "openIdConnect":
        found = 2, {"type": "bearer"}, "OpenID Connect: its access token as a bearer token"
    elif kind == "apiKey" and s.get("in") == "header":
        found = 2, {"type": "api_key", "header": s.get("name", "Authorization"), "prefix": ""}, \
            f"an API key in the {s.get('name')} header"
    elif kind == "http" and scheme == "basic":
        found = 3, {"type": "basic"}, "basic auth (username, password)"
    elif kind == "apiKey" and s.get("in") == "query":
        found = 5, {"type": "api_key", "query_param": s.get("name", "api_key")}, \
            "an API key in the query string (proxies log it; most APIs have deprecated it)"
    if found is None:
        return None
    rank, auth, why = found
    if _DEPRECATED.search(f"{name} {s.get('description', '')}") or s.get("deprecated"):
        rank, why = rank + 5, why + "; deprecated"
    return (rank, position), name, auth, why


def _flow(schemes: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The first OAuth2 scheme's flow of that name (clientCredentials, authorizationCode)."""
    return next((s["flows"][name] for s in schemes.values()
                 if s.get("type") == "oauth2" and name in (s.get("flows") or {})), None)  # fmt: skip


def _flow_text(value: dict[str, Any]) -> str:
    """One line of YAML (JSON is YAML's flow style)."""
    return json.dumps(value, ensure_ascii=False)
