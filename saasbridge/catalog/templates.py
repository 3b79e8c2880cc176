"""Fill the catalog's JSON and text templates (`{field}`, `{value}`, `{items}`…)."""

from __future__ import annotations

import re
from typing import Any

_WHOLE = re.compile(r"\{([a-z_]+)\}\Z")
_ANY = re.compile(r"\{([a-z_]+)\}")


def fill(template: Any, values: dict[str, Any]) -> Any:
    """A copy of a JSON template with its placeholders filled: a string that is exactly one
    known placeholder becomes the value itself (a list, a number); in other strings (and keys)
    placeholders become text; unknown placeholders stay as written."""
    if isinstance(template, dict):
        return {fill_text(str(k), values): fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole and whole.group(1) in values:
            return values[whole.group(1)]
        return fill_text(template, values)
    return template


def fill_text(template: str, values: dict[str, Any]) -> str:
    """Placeholders of a text template replaced by their values' text, in one pass (a value
    that holds `{…}` is never filled again)."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        return _text(values[name]) if name in values else m.group(0)

    return _ANY.sub(repl, template)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    return "" if value is None else str(value)


def set_path(body: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in a JSON object, creating the objects on the way."""
    parts = path.split(".")
    node = body
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value
