"""The API's own words for a failed request, from the error bodies SaaS APIs send, in one line.

Hand-written: no library reads vendors' error bodies, and each shape is a few lines.

    {"error": {"message": …, "code": …}}                 Stripe, the reference API, Google
    {"errorMessages": [...], "errors": {field: text}}    Jira
    {"message": …, "category": …}                        HubSpot
    {"message": …, "errors": [{field, code, message}]}   GitHub
    {"error": …, "description": …}                       Zendesk
    {"error": …, "error_description": …}                 OAuth2 token endpoints (RFC 6749)
    [{"message": …, "errorCode": …}]                     Salesforce
    {"title": …, "detail": …}                            problem details (RFC 9457)
"""

from __future__ import annotations

from typing import Any

_MAX_ITEMS = 5  # of a list of errors: enough to say what is wrong, short enough for one line


def error_message(body: Any) -> str | None:
    """The message in a decoded error body, as one line; None when the body holds none."""
    parts = [" ".join(p.split()) for p in _parts(body, 0)]
    text = "; ".join(dict.fromkeys(p for p in parts if p))
    return text or None


def _parts(body: Any, depth: int) -> list[str]:
    if depth > 3:
        return []
    if isinstance(body, str):
        return [body]
    if isinstance(body, list):
        return [p for item in body[:_MAX_ITEMS] for p in _parts(item, depth + 1)]
    if not isinstance(body, dict):
        return []
    error = body.get("error")
    if isinstance(error, dict):
        return _parts(error, depth + 1) or _texts(error.get("code"))
    if isinstance(error, str):
        return [_joined(error, body.get("error_description") or body.get("description"))]
    parts = _texts(body.get("errorMessages"))
    errors = body.get("errors")
    if isinstance(errors, dict):  # Jira: field → what is wrong with it
        parts += [f"{field}: {text}" for field, text in list(errors.items())[:_MAX_ITEMS] if _texts(text)]
    message = _first(body, "message", "errorMessage", "title")
    if message is not None:
        label = _first(body, "category", "errorCode")
        parts.append(f"{label}: {message}" if label else message)
    if detail := _first(body, "detail", "details"):
        parts.append(detail)
    if isinstance(errors, list):  # GitHub: what each field failed on
        parts += [_item_error(e) for e in errors[:_MAX_ITEMS] if isinstance(e, dict)]
    return parts


def _item_error(error: dict[str, Any]) -> str:
    if message := _first(error, "message"):
        return message
    return " ".join(str(error[k]) for k in ("field", "code") if isinstance(error.get(k), str | int))


def _first(body: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = body.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
            return str(value)
    return None


def _texts(value: Any) -> list[str]:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [str(value)] if str(value).strip() else []
    if isinstance(value, list):
        return [str(v) for v in value[:_MAX_ITEMS] if isinstance(v, str | int) and str(v).strip()]
    return []


def _joined(head: str, tail: Any) -> str:
    return f"{head}: {tail}" if isinstance(tail, str) and tail.strip() and tail != head else head
