"""An OpenAPI 3.0/3.1 document: reading it, and the schema questions a draft asks of it
(`$ref`s, nullability, catalog types, an operation's parameters, bodies and answers)."""

from __future__ import annotations

import json
import math
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from saasbridge.errors import CatalogError

RECORDS_KEYS = ("data", "items", "results", "records", "entries", "values", "rows", "objects")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_AT_MOST = re.compile(
    r"(?:at most|up to|no more than|cannot exceed|not exceed|limit(?:ed)? (?:of|to)|max(?:imum)?(?: of| is|:)?|"
    r"between\s+\d+\s+and|range\s+\d+\s*(?:-|to)|\b1\s*(?:-|to))\s*([\d,]*\d)",
    re.I,
)


def stated_maximum(*texts: str | None) -> int | None:
    """The largest number the prose gives as a maximum ("up to 200", "between 1 and 100",
    "only accurate up to 10,000"), or None."""
    found = [int(n.replace(",", "")) for text in texts if text for n in _AT_MOST.findall(text)]
    return max(found) if found else None


def load_openapi(source: str, *, timeout: float = 30.0) -> dict[str, Any]:
    """Read an OpenAPI document (JSON or YAML) from a file path or an http(s) URL."""
    try:
        if re.match(r"https?://", source):
            request = urllib.request.Request(source, headers={"Accept": "application/json, application/yaml"})
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
                text = response.read().decode("utf-8")
        else:
            text = Path(source).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise CatalogError(f"{source}: cannot read the OpenAPI document ({exc}); check the path or URL") from None
    try:
        # the C loader when PyYAML has it: a several-MB YAML document loads in seconds, not a minute
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, Loader=loader)  # noqa: S506
    except (ValueError, yaml.YAMLError) as exc:
        raise CatalogError(f"{source}: not JSON or YAML ({str(exc).splitlines()[0]}); give an OpenAPI 3 document") from None
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3"):
        raise CatalogError(f"{source}: not an OpenAPI 3 document (no 'openapi: 3.x' key); convert Swagger 2 first")
    return doc


class Document:
    """Schema lookups over one OpenAPI document."""

    def __init__(self, doc: dict[str, Any]):
        self.doc = doc
        self.paths: dict[str, Any] = doc.get("paths") or {}

    def resolve(self, schema: Any, depth: int = 0) -> dict[str, Any]:
        """Follow `$ref`s (local only); merge `allOf`."""
        if not isinstance(schema, dict) or depth > 32:
            return {}
        if "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                return {}
            node: Any = self.doc
            for part in ref[2:].split("/"):
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, dict) else {}
            return {**self.resolve(node, depth + 1), **{k: v for k, v in schema.items() if k != "$ref"}}
        if "allOf" in schema:
            out: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            props: dict[str, Any] = {}
            required: list[str] = []
            for part in schema["allOf"]:
                r = self.resolve(part, depth + 1)
                props.update(r.get("properties", {}))
                required += r.get("required", [])
                out.update({k: v for k, v in r.items() if k not in ("properties", "required")})
            if props:
                out["properties"], out["required"] = props, required
            return out
        return schema

    def unwrap_nullable(self, schema: Any) -> tuple[dict[str, Any], bool]:
        """(the non-null schema, whether null is allowed): OpenAPI 3.1 `anyOf [T, null]` /
        `type: [T, "null"]` and 3.0 `nullable: true`."""
        s = self.resolve(schema)
        nullable = bool(s.get("nullable"))
        for key in ("anyOf", "oneOf"):
            options = s.get(key)
            if isinstance(options, list):
                non_null = [o for o in options if self.resolve(o).get("type") != "null"]
                if len(non_null) < len(options):
                    nullable = True
                if len(non_null) == 1:
                    inner = self.resolve(non_null[0])
                    rest = {k: v for k, v in s.items() if k not in (key, "nullable")}
                    inner, inner_null = self.unwrap_nullable({**inner, **{k: v for k, v in rest.items() if k not in inner}})
                    return inner, nullable or inner_null
        t = s.get("type")
        if isinstance(t, list):
            non_null_types = [x for x in t if x != "null"]
            nullable = nullable or len(non_null_types) < len(t)
            s = {**s, "type": non_null_types[0] if len(non_null_types) == 1 else non_null_types}
        return s, nullable

    def type_of(self, schema: Any, depth: int = 0) -> str:
        """The catalog type of a schema (docs/catalog.md, "Types")."""
        s, _ = self.unwrap_nullable(schema)
        t = s.get("type")
        if t is None and "properties" in s:
            t = "object"
        if t == "string":
            return {"date-time": "timestamp", "date": "date"}.get(s.get("format"), "string")
        if t == "integer":
            return "int32" if s.get("format") == "int32" else "int64"
        if t == "number":
            return _decimal(s) or "double"
        if t == "boolean":
            return "boolean"
        if t == "array" and depth < 8:
            return f"list<{self.type_of(s.get('items', {}), depth + 1)}>"
        if t == "object" and depth < 8:
            props = {k: v for k, v in s.get("properties", {}).items() if IDENT.match(k)}
            if props:
                return "struct<" + ",".join(f"{k}:{self.type_of(v, depth + 1)}" for k, v in props.items()) + ">"
            extra = s.get("additionalProperties")
            value = self.type_of(extra, depth + 1) if isinstance(extra, dict) and extra else "string"
            return f"map<string,{value}>"
        return "string"  # untyped or mixed: keep the JSON text's string form

    def properties(self, schema: Any) -> dict[str, Any]:
        """The properties of an object schema (nullable or not)."""
        s, _ = self.unwrap_nullable(schema)
        props = s.get("properties")
        return props if isinstance(props, dict) else {}

    def leaves(self, schema: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
        """(dotted path, schema) of every scalar property of an object, nested objects walked
        (not arrays: those are records, not paging)."""
        if depth > 4:
            return
        for name, prop in self.properties(schema).items():
            s, _ = self.unwrap_nullable(prop)
            path = f"{prefix}{name}"
            if s.get("type") == "object" or ("properties" in s and "type" not in s):
                yield from self.leaves(s, path + ".", depth + 1)
            elif s.get("type") != "array":
                yield path, s

    # -- operations -------------------------------------------------------------------------

    def response_schema(self, operation: dict[str, Any]) -> dict[str, Any] | None:
        responses = operation.get("responses", {})
        for status in ("200", "201", 200, 201, "207", 207, "2XX", "default"):
            resp = self.resolve(responses.get(status))
            for media, body in resp.get("content", {}).items():
                if "json" in media:
                    return self.resolve(body.get("schema"))
        return None

    def request_schema(self, operation: dict[str, Any]) -> dict[str, Any] | None:
        body = self.resolve(operation.get("requestBody"))
        for media, content in body.get("content", {}).items():
            if "json" in media:
                return self.resolve(content.get("schema"))
        return None

    def response_headers(self, operation: dict[str, Any]) -> list[str]:
        """Header names the list response declares (totals, has-more flags, Link)."""
        responses = operation.get("responses", {})
        for status in ("200", 200, "2XX", "default"):
            resp = self.resolve(responses.get(status))
            if resp:
                return list(resp.get("headers", {}))
        return []

    def parameters(self, path_item: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
        params = {}
        for p in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
            p = self.resolve(p)
            if "name" in p:
                params[(p["name"], p.get("in"))] = p
        return list(params.values())

    def records_of(self, schema: dict[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
        """(records path, record schema) for a list response, or None."""
        s, _ = self.unwrap_nullable(schema)
        if s.get("type") == "array":
            item, _ = self.unwrap_nullable(s.get("items"))
            return ("", item) if "properties" in item else None
        props = s.get("properties", {})
        candidates = [k for k in RECORDS_KEYS if k in props] + [k for k in props if k not in RECORDS_KEYS]
        for key in candidates:
            p, _ = self.unwrap_nullable(props[key])
            if p.get("type") == "array":
                item, _ = self.unwrap_nullable(p.get("items"))
                if "properties" in item:
                    return key, item
        return None


def _decimal(s: dict[str, Any]) -> str | None:
    """`decimal(38,s)` for a number with a declared scale or a decimal step (`multipleOf: 0.01`)."""
    for key in ("x-decimal-places", "x-scale", "scale"):
        places = s.get(key)
        if isinstance(places, int) and 0 <= places <= 38:
            return f"decimal(38,{places})"
    step = s.get("multipleOf")
    if isinstance(step, (int, float)) and 0 < step < 1:
        scale = round(-math.log10(step))
        if abs(10**-scale - step) < 1e-12:
            return f"decimal(38,{scale})"
    return None
