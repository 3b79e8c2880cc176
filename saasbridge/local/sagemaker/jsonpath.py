"""The JSONPath subset batch transform's InputFilter / OutputFilter accept, with SageMaker's meaning.

Operators: `$` (the record), `.name` and `['a','b']` (children: one name gives the value, several
an object of those keys), `.*` / `[*]` (all children), `[0,-1]`, `[1:]`, `[0,5:]` (array elements by
index and slice, in order: a list). Selectors chain left to right (`$.features[1:]`). A general
JSONPath library returns a list of matches without SageMaker's object-of-keys and list shapes, so
this small evaluator is written here.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"\.(\*|[A-Za-z_][\w-]*)|\[([^\]]*)\]")


class FilterError(ValueError):
    """A filter outside the supported subset, or one that does not fit the record."""


def _bracket_items(text: str) -> list[str | int | slice]:
    items: list[str | int | slice] = []
    for raw in (part.strip() for part in text.split(",")):
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            items.append(raw[1:-1])
        elif ":" in raw:
            start, _, stop = raw.partition(":")
            items.append(slice(int(start) if start.strip() else None, int(stop) if stop.strip() else None))
        elif re.fullmatch(r"-?\d+", raw):
            items.append(int(raw))
        elif raw == "*":
            items.append(slice(None))
        else:
            raise FilterError(f"unsupported JSONPath element {raw!r}")
    return items


def parse(expression: str) -> list[list[str | int | slice]]:
    """A filter as a list of selectors, each a list of names, indexes or slices."""
    text = (expression or "$").strip()
    if not text.startswith("$"):
        raise FilterError(f"JSONPath filter {expression!r} must start with $")
    selectors, pos = [], 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterError(f"unsupported JSONPath filter {expression!r} at {text[pos:]!r}")
        name, bracket = match.groups()
        if name is not None:
            selectors.append([slice(None)] if name == "*" else [name])
        else:
            selectors.append(_bracket_items(bracket))
        pos = match.end()
    return selectors


def apply(expression: str, record: Any) -> Any:
    """The part of `record` (parsed JSON, or a CSV row as a list) the filter selects."""
    value = record
    for items in parse(expression):
        value = _select(value, items, expression)
    return value


def _select(value: Any, items: list[str | int | slice], expression: str) -> Any:
    if all(isinstance(i, str) for i in items):
        if not isinstance(value, dict):
            raise FilterError(f"filter {expression!r} names keys but the record is not a JSON object")
        missing = [k for k in items if k not in value]
        if missing:
            raise FilterError(f"filter {expression!r}: the record has no key {missing[0]!r}")
        return value[items[0]] if len(items) == 1 else {k: value[k] for k in items}
    if isinstance(value, dict) and items == [slice(None)]:
        return list(value.values())
    if not isinstance(value, list):
        raise FilterError(f"filter {expression!r} selects array elements but the record is not an array")
    if len(items) == 1 and isinstance(items[0], int):
        try:
            return value[items[0]]
        except IndexError:
            raise FilterError(f"filter {expression!r}: index {items[0]} is outside a {len(value)}-element record") from None
    out: list[Any] = []
    for item in items:
        if isinstance(item, slice):
            out.extend(value[item])
        elif isinstance(item, int):
            try:
                out.append(value[item])
            except IndexError:
                raise FilterError(f"filter {expression!r}: index {item} is outside a {len(value)}-element record") from None
        else:
            raise FilterError(f"filter {expression!r} mixes keys and indexes")
    return out
