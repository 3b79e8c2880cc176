"""Catalog YAML → `Catalog`: parse, substitute `${ENV}`, validate with the JSON Schema, check the
semantic rules the schema cannot express, build the frozen model.

Every problem is one `CatalogError` line: `<file>:<line>: <path inside it>: <what is wrong>; <fix>`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import importlib.resources
import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from saasbridge.catalog.model import (
    Auth,
    Catalog,
    Entity,
    Field,
    FieldFilter,
    FieldType,
    Pagination,
    Parent,
    QuotaResponse,
    RateBudget,
    Retry,
    SharedBudget,
    Sort,
    SplitHint,
    WriteOperation,
)
from saasbridge.catalog.search import (
    BatchRead,
    BodyFilter,
    DynamicProperties,
    QueryLanguage,
    Search,
    SearchSort,
)
from saasbridge.catalog.types import format_type, is_numeric, is_ordered, is_scalar, parse_type
from saasbridge.errors import CatalogError

PathKey = tuple[str | int, ...]

_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SNAKE = re.compile(r"[a-z][a-z0-9_]*\Z")
_PLACEHOLDER = re.compile(r"\{([^}]*)\}")
_OAUTH_URL = re.compile(r"https://|http://(127\.0\.0\.1|localhost)[:/]")  # loopback http: local tests
_SCALAR_TEXT = re.compile(r"(?:-?\d+(?:\.\d+)?|true|false)\Z")

# Which operators and value formats make sense for which column types.
_RANGE_OPS = ("lt", "le", "gt", "ge")
_TIME_FORMATS = ("iso8601", "iso8601_ms", "epoch_s", "epoch_ms", "date")


class _Problem(Exception):
    """A validation failure at a path; the loader adds the file and line."""

    def __init__(self, path: PathKey, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


# --------------------------------------------------------------------------- public API


def load_catalog(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Catalog:
    """Load and validate a catalog file (which one a deployment serves: `saasbridge.runtime.catalog_path`).
    `env` (default `os.environ`) supplies `${VAR}` values. Cached per (path, mtime, used variables)."""
    env = os.environ if env is None else env
    file = Path(path)
    try:
        stat = file.stat()
    except OSError as exc:
        raise CatalogError(f"{file}: cannot read the catalog ({exc.strerror or exc}); check the path") from None
    file_key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _cache.get(file_key[0])
    if cached is None or cached[0] != file_key:
        text = _read_text(file)
        doc = _parse_yaml(text, str(file))
        cached = (file_key, text, doc, _env_names(doc), {})
        with _cache_lock:
            _cache[file_key[0]] = cached
    _, text, doc, names, built = cached
    env_key = tuple(env.get(n) for n in names)
    catalog = built.get(env_key)
    if catalog is None:
        catalog = _build(doc, str(file), text, env)
        built[env_key] = catalog
    return catalog


def load_catalog_text(text: str, *, source: str = "<catalog>", env: Mapping[str, str] | None = None) -> Catalog:
    """Load a catalog from YAML text (`source` names it in errors)."""
    return _build(_parse_yaml(text, source), source, text, os.environ if env is None else env)


def catalog_from_dict(doc: Any, *, source: str = "<catalog>", env: Mapping[str, str] | None = None) -> Catalog:
    """Validate and build a catalog from an already parsed document."""
    return _build(_plain(doc), source, None, os.environ if env is None else env)


def catalog_schema() -> dict[str, Any]:
    """The JSON Schema of the catalog format (`saasbridge/catalog/schema.json`)."""
    return json.loads(_schema_text())


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


# --------------------------------------------------------------------------- plumbing

_cache: dict[str, tuple[Any, str, Any, tuple[str, ...], dict[tuple[str | None, ...], Catalog]]] = {}
_cache_lock = threading.Lock()
_validator: Any = None


def _read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{file}: cannot read the catalog ({exc}); check the path and that it is UTF-8") from None


def _loader_class() -> type:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        doc = yaml.load(text, Loader=_loader_class())  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CatalogError(f"{where}: invalid YAML: {problem}; fix the syntax (indentation, quotes, colons)") from None
    if doc is None:
        raise CatalogError(f"{source}: the catalog is empty; start from demo_saas/catalog.yaml or docs/catalog.md")
    return _plain(doc)


def _plain(value: Any) -> Any:
    """YAML dates (`start: 2024-01-01`) become ISO strings, so the schema sees what was written."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _env_names(doc: Any) -> tuple[str, ...]:
    names: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, str):
            names.update(m.group(1) for m in _ENV_REF.finditer(v) if m.group(1))
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(doc)
    return tuple(sorted(names))


def _substitute(value: Any, env: Mapping[str, str], path: PathKey = ()) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string; `$$` is a literal `$`."""
    if isinstance(value, dict):
        return {k: _substitute(v, env, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, (*path, i)) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(2)
        got = env.get(name)
        if got is None or (got == "" and default is not None):
            if default is None:
                raise _Problem(path, f"environment variable {name} is not set; set it or write ${{{name}:-default}}")
            return default
        return got

    result = _ENV_REF.sub(repl, value)
    whole = _ENV_REF.fullmatch(value)
    if whole and whole.group(1) and result:
        # `port: ${PORT:-8080}` should still be a number after substitution.
        scalar = yaml.load(result, Loader=_loader_class()) if _SCALAR_TEXT.match(result) else None  # noqa: S506
        if isinstance(scalar, (bool, int, float)):
            return scalar
    return result


def _schema_text() -> str:
    return importlib.resources.files("saasbridge.catalog").joinpath("schema.json").read_text(encoding="utf-8")


def _get_validator() -> Any:
    global _validator
    if _validator is None:
        from jsonschema import Draft202012Validator

        _validator = Draft202012Validator(catalog_schema())
    return _validator


def _build(doc: Any, source: str, text: str | None, env: Mapping[str, str]) -> Catalog:
    try:
        doc = _substitute(doc, env)
        _schema_check(doc)
        return _Builder(source).catalog(doc)
    except _Problem as p:
        raise CatalogError(_format(source, text, p.path, p.message)) from None


def format_path(path: PathKey) -> str:
    """`("entities", 2, "fields", 4, "type")` → `entities[2].fields[4].type`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _format(source: str, text: str | None, path: PathKey, message: str) -> str:
    line = _line_of(text, path) if text is not None else None
    where = f"{source}:{line}" if line else source
    return f"{where}: {format_path(path)}: {message}"


def _line_of(text: str, path: PathKey) -> int | None:
    """1-based line of the deepest node along `path` (only computed when reporting an error)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            hit = next(((k, v) for k, v in node.value if k.value == part), None)
            if hit is None:
                break
            node = hit[1]
            line = hit[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


# --------------------------------------------------------------------------- JSON Schema


def _schema_check(doc: Any) -> None:
    validator = _get_validator()
    errors = list(validator.iter_errors(doc))
    if not errors:
        return
    from jsonschema.exceptions import best_match

    err = best_match(errors)
    # `oneOf` errors (sort.default) hide the useful one in context.
    while err.context:
        err = best_match(err.context)
    raise _Problem(tuple(err.absolute_path), _explain(err))


_JSON_TYPE = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
              "object": "a mapping (key: value)", "array": "a list", "null": "null"}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for t, name in ((dict, "a mapping"), (list, "a list"), (str, "a string"), (int, "an integer"), (float, "a number")):
        if isinstance(value, t):
            return name
    return "null" if value is None else type(value).__name__


def _explain(err: Any) -> str:
    v, inst = err.validator, err.instance
    if v == "required":
        missing = err.validator_value
        name = next((m for m in missing if isinstance(inst, dict) and m not in inst), missing[0])
        desc = err.schema.get("properties", {}).get(name, {}).get("description", "")
        return f"missing required key {name!r}; add it" + (f" ({desc.rstrip('.')})" if desc else "")
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(k for k in inst if k not in allowed) if isinstance(inst, dict) else []
        key = extra[0] if extra else "?"
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
        return f"unknown key {key!r}; {hint}"
    if v == "enum":
        options = [str(o) for o in err.validator_value]
        close = difflib.get_close_matches(str(inst), options, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{inst!r} is not allowed{hint}; use one of {', '.join(options)}"
    if v == "type":
        wanted = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        names = " or ".join(_JSON_TYPE.get(w, w) for w in wanted)
        return f"expected {names}, got {_describe(inst)} {inst!r}"[:200]
    if v == "pattern":
        if err.validator_value == "^[a-z][a-z0-9_]*$":
            return f"{inst!r} is not lower-case snake_case; Athena lower-cases names: use e.g. {_snake(inst)!r}"
        if err.validator_value == "^https?://":
            return f"{inst!r} is not an http(s) URL; write e.g. https://api.example.com"
        if err.validator_value == "^/":
            return f"{inst!r} must start with '/'; write it relative to base_url, e.g. /v1/items"
        return f"{inst!r} does not match {err.validator_value}"
    if v in ("minimum", "exclusiveMinimum", "maximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<="}[v]
        return f"{inst!r} is out of range; use a value {sign} {err.validator_value}"
    if v == "minItems":
        return f"the list is empty; give at least {err.validator_value} item"
    if v == "minLength":
        return "the value is empty; give a non-empty string"
    return err.message.splitlines()[0][:200]


def _snake(name: Any) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", str(name))
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()
    if not s or not s[0].isalpha():
        s = f"c_{s}"
    return s


# --------------------------------------------------------------------------- model building and semantic rules


class _Builder:
    def __init__(self, source: str):
        self.source = source

    def catalog(self, d: dict[str, Any]) -> Catalog:
        entities = tuple(self.entity(e, ("entities", i)) for i, e in enumerate(d["entities"]))
        self.unique([e.name for e in entities], ("entities",), "entity name")
        entities = tuple(self.parent(e, entities, ("entities", i)) for i, e in enumerate(entities))
        auth = self.auth(d.get("auth", {}), ("auth",))
        pagination = self.pagination(d.get("pagination", {}), ("pagination",))
        retry_d = d.get("retry", {})
        retry = Retry(
            **{k: v for k, v in retry_d.items() if k != "quota_responses"},
            quota_responses=tuple(QuotaResponse(**q) for q in retry_d.get("quota_responses", [])),
        )
        return Catalog(
            name=d["name"],
            base_url=d["base_url"].rstrip("/"),
            entities=entities,
            title=d.get("title"),
            description=d.get("description"),
            auth=auth,
            pagination=pagination,
            records_path=d.get("records_path", "data"),
            retry=retry,
            rate_limit=self.rate_limit(d.get("rate_limit", {})),
            headers=tuple(d.get("headers", {}).items()),
            params=_static_params(d.get("params", {})),
            api_versions=tuple(d.get("api_versions", ("v1",))),
            source_file=self.source,
        )

    def rate_limit(self, d: dict[str, Any]) -> RateBudget:
        shared = SharedBudget(**d.get("shared", {}))
        return RateBudget(**{k: v for k, v in d.items() if k != "shared"}, shared=shared)

    def unique(self, names: list[str], path: PathKey, what: str) -> None:
        seen: set[str] = set()
        for i, n in enumerate(names):
            if n in seen:
                raise _Problem((*path, i, "name"), f"duplicate {what} {n!r}; give each a distinct name")
            seen.add(n)

    def auth(self, d: dict[str, Any], path: PathKey) -> Auth:
        a = Auth(**{**d, "scopes": tuple(d.get("scopes", ()))})
        if a.type.startswith("oauth2_") and not a.token_url:
            raise _Problem((*path, "token_url"), f"{a.type} needs token_url; add the token endpoint")
        if a.type == "oauth2_authorization_code":
            if not a.auth_url:
                raise _Problem((*path, "auth_url"), "oauth2_authorization_code needs auth_url; add the "
                               "provider's authorization page, e.g. https://login.example.com/oauth/authorize")
            for key in ("auth_url", "token_url"):
                url = str(getattr(a, key))
                if ("://" in url or key == "auth_url") and not _OAUTH_URL.match(url):
                    raise _Problem((*path, key), f"{url!r} is not an https URL (AppFlow registers only "
                                   "https); write the provider's https:// address")
        elif a.auth_url:
            raise _Problem((*path, "auth_url"), "auth_url applies only to oauth2_authorization_code; remove it")
        return a

    def pagination(self, d: dict[str, Any], path: PathKey) -> Pagination:
        p = Pagination(**d)
        if p.default_page_size > p.max_page_size:
            raise _Problem(
                (*path, "default_page_size"),
                f"default_page_size {p.default_page_size} exceeds max_page_size {p.max_page_size}; lower it",
            )
        for key in ("total_header", "has_more_header"):
            if getattr(p, key) and p.style not in ("offset", "page_number"):
                raise _Problem((*path, key), f"{key} applies to offset and page_number pagination, not {p.style!r}; "
                               "remove it (the other styles end on their own signal)")
        if p.stop_on_short_page and p.style == "single":
            raise _Problem((*path, "stop_on_short_page"), "a single-page listing has no next page; remove it")
        return p

    def entity(self, d: dict[str, Any], path: PathKey) -> Entity:
        fields = tuple(self.field(f, (*path, "fields", i)) for i, f in enumerate(d["fields"]))
        self.unique([f.name for f in fields], (*path, "fields"), "column name")
        by_name = {f.name: f for f in fields}
        columns = ", ".join(by_name)

        def column(key: str, sub: PathKey, value: str | None) -> Field | None:
            if value is None:
                return None
            if value not in by_name:
                close = difflib.get_close_matches(value, list(by_name), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"use one of {columns}"
                raise _Problem((*path, *sub), f"{key} {value!r} is not a column of {d['name']}; {hint}")
            return by_name[value]

        for name in _PLACEHOLDER.findall(d["path"]):
            f = column("path placeholder", ("path",), name)
            if f is None or not is_scalar(f.type) or "." in f.api_name:
                raise _Problem((*path, "path"), f"placeholder {{{name}}} needs a scalar column {name!r} with a "
                               "top-level api_name; the bound value fills that column of each row")
        parent = d.get("parent")
        if parent is not None and not _PLACEHOLDER.search(d["path"]):
            raise _Problem((*path, "parent"), "parent applies to a path with placeholders, e.g. "
                           "/v1/accounts/{account_id}/notes; remove it or add the placeholder")
        pk = column("primary_key", ("primary_key",), d.get("primary_key", "id"))
        if pk is not None and (pk.nullable or not is_scalar(pk.type)):
            raise _Problem((*path, "primary_key"), f"primary key {pk.name!r} must be a scalar with nullable: false; fix that field")
        get_path = d.get("get_path")
        if get_path is not None:
            self.placeholders(get_path, (*path, "get_path"), required=True)
            if pk is None:
                raise _Problem((*path, "get_path"), "get_path needs a primary_key; set primary_key or remove get_path")
        if d.get("ids_param") and pk is None:
            raise _Problem((*path, "ids_param"), "ids_param needs a primary_key; set primary_key or remove ids_param")
        inc = column("incremental_field", ("incremental_field",), d.get("incremental_field"))
        if inc is not None and inc.type.kind not in ("timestamp", "date", "int32", "int64"):
            raise _Problem(
                (*path, "incremental_field"),
                f"incremental field {inc.name!r} is {format_type(inc.type)}; use a timestamp, date or integer column",
            )
        sort = self.sort(d.get("sort"), (*path, "sort"), column)
        split = self.split(d.get("split"), (*path, "split"), column)
        writes = tuple(self.write(w, (*path, "writes", i), pk) for i, w in enumerate(d.get("writes", [])))
        for i, w in enumerate(writes):
            if any(x.op == w.op for x in writes[:i]):
                raise _Problem((*path, "writes", i, "op"), f"write operation {w.op!r} appears twice; keep one")
        pagination = d.get("pagination")
        search = self.search(d.get("search"), (*path, "search"), column, by_name)
        return Entity(
            name=d["name"],
            path=d["path"],
            fields=fields,
            primary_key=pk.name if pk else None,
            description=d.get("description"),
            group=d.get("group"),
            get_path=get_path,
            ids_param=d.get("ids_param"),
            ids_max=d.get("ids_max", 100),
            projection_param=d.get("projection_param"),
            incremental_field=inc.name if inc else None,
            pagination=self.pagination(pagination, (*path, "pagination")) if pagination is not None else None,
            records_path=d.get("records_path"),
            sort=sort,
            split=split,
            writes=writes,
            projection_repeat=d.get("projection_repeat", False),
            params=_static_params(d.get("params", {})),
            parent=Parent(parent["entity"], tuple(parent.get("keys", {}).items())) if parent else None,
            search=search,
            batch_read=self.batch_read(d.get("batch_read"), pk, (*path, "batch_read")),
            properties=self.properties(d.get("properties")),
        )

    def search(self, d: dict[str, Any] | None, path: PathKey, column: Any, by_name: dict[str, Field]) -> Search | None:
        if d is None:
            return None
        if ("filter" in d) == ("query" in d):
            raise _Problem(path, "a search needs exactly one of filter (a JSON body) and query (a query language); "
                           "keep one")
        for i, name in enumerate(d.get("filterable", [])):
            column("filterable column", ("search", "filterable", i), name)
        for name in d.get("names", {}):
            column("names column", ("search", "names", name), name)
        pagination = d.get("pagination")
        paging = self.pagination(pagination, (*path, "pagination")) if pagination is not None else None
        sort = d.get("sort")
        if sort is not None:
            for i, name in enumerate(sort.get("columns", [])):
                column("sort column", ("search", "sort", "columns", i), name)
        if d.get("max_results") is not None:
            cap = column("cap_field", ("search", "cap_field"), d.get("cap_field"))
            if cap is None or cap.type.kind != "timestamp" or cap.nullable:
                raise _Problem((*path, "cap_field"), "max_results needs cap_field: a non-nullable timestamp column the "
                               "search filters on, so that a read over the cap is cut into time ranges")
            if paging is None or not paging.total_path:
                raise _Problem((*path, "pagination"), "max_results needs pagination.total_path (the response's total) "
                               "to tell when a query passes the cap; add it")
        try:
            dt.date.fromisoformat(str(d.get("cap_start", "2000-01-01"))[:10])
        except ValueError:
            raise _Problem((*path, "cap_start"), "not an ISO date; write e.g. 2010-01-01") from None
        query = d.get("query")
        return Search(
            path=d["path"],
            method=d.get("method", "POST"),
            body=d.get("body"),
            filter=self.body_filter(d["filter"], (*path, "filter")) if "filter" in d else None,
            query=self.query_language(query, (*path, "query")) if query is not None else None,
            sort=SearchSort(
                template=sort["template"], at=sort.get("at"), ascending=sort.get("ascending", "asc"),
                descending=sort.get("descending", "desc"),
                columns=tuple(sort["columns"]) if "columns" in sort else None,
            ) if sort is not None else None,
            projection=d.get("projection"),
            names=tuple(d.get("names", {}).items()),
            strip_prefix=d.get("strip_prefix"),
            formats=tuple(d.get("formats", {}).items()),
            native_values=d.get("native_values", False),
            filterable=tuple(d["filterable"]) if "filterable" in d else None,
            pagination=paging,
            records_path=d.get("records_path"),
            max_results=d.get("max_results"),
            cap_field=d.get("cap_field"),
            cap_start=str(d.get("cap_start", "2000-01-01")),
            always=d.get("always", False),
        )

    def body_filter(self, d: dict[str, Any], path: PathKey) -> BodyFilter:
        shape = d.get("shape", "groups")
        if shape == "groups" and "and" not in d:
            raise _Problem(path, "a groups filter needs and: the template of one group, e.g. {filters: '{items}'}")
        if shape == "tree" and not ("and" in d and "or" in d):
            raise _Problem(path, "a tree filter needs and and or: the templates of its nodes, e.g. {and: '{items}'}")
        return BodyFilter(
            at=d["at"], condition=d["condition"], operators=tuple(d["operators"].items()), shape=shape,
            conditions=tuple(d.get("conditions", {}).items()), and_=d.get("and"), or_=d.get("or"),
            max_groups=d.get("max_groups"), max_per_group=d.get("max_per_group"),
            max_conditions=d.get("max_conditions"), max_depth=d.get("max_depth"), max_items=d.get("max_items"),
        )

    def query_language(self, d: dict[str, Any], path: PathKey) -> QueryLanguage:
        allowed = {"field", "value", "values", "low", "high"}
        for op, text in d["operators"].items():
            bad = [p for p in _PLACEHOLDER.findall(text) if p not in allowed]
            if bad or "{field}" not in text:
                raise _Problem((*path, "operators", op), f"{text!r} needs {{field}} and may use only "
                               f"{{field}}, {{value}}, {{values}}, {{low}}, {{high}}")
        if "{filter}" not in d.get("template", "{filter}"):
            raise _Problem((*path, "template"), "the template needs {filter}; e.g. 'type:ticket {filter}'")
        defaults = QueryLanguage(param=d["param"], operators=())
        escape = d.get("escape")
        return QueryLanguage(
            param=d["param"], operators=tuple(d["operators"].items()), and_=d.get("and", defaults.and_),
            or_=d.get("or", defaults.or_), not_=d.get("not"), group=d.get("group", defaults.group),
            quote=d.get("quote", defaults.quote),
            quote_kinds=tuple(d.get("quote_kinds", defaults.quote_kinds)),
            escape=tuple((a, b) for a, b in escape) if escape is not None else defaults.escape,
            forbidden=d.get("forbidden", ""), list_separator=d.get("list_separator", defaults.list_separator),
            template=d.get("template", "{filter}"), where=d.get("where", "{filter}"),
            max_terms=d.get("max_terms"), max_length=d.get("max_length"),
        )

    def batch_read(self, d: dict[str, Any] | None, pk: Field | None, path: PathKey) -> BatchRead | None:
        if d is None:
            return None
        if pk is None:
            raise _Problem(path, "batch_read needs a primary_key; set primary_key or remove batch_read")
        return BatchRead(**d)

    def properties(self, d: dict[str, Any] | None) -> DynamicProperties | None:
        if d is None:
            return None
        return DynamicProperties(**{**d, "types": tuple(d.get("types", {}).items())})

    def parent(self, e: Entity, entities: tuple[Entity, ...], path: PathKey) -> Entity:
        """Check the parent of a parent-scoped entity against the other entities; fill default keys."""
        if e.parent is None:
            return e
        by_name = {x.name: x for x in entities}
        where = (*path, "parent")
        parent = by_name.get(e.parent.entity)
        if parent is None or parent is e:
            others = ", ".join(n for n in by_name if n != e.name) or "none"
            raise _Problem((*where, "entity"), f"parent entity {e.parent.entity!r} is not another entity of the "
                           f"catalog; use one of {others}")
        keys = dict(e.parent.keys)
        if not keys and len(e.path_columns) == 1 and parent.primary_key:
            keys = {e.path_columns[0]: parent.primary_key}
        for name in e.path_columns:
            if name not in keys:
                raise _Problem((*where, "keys"), f"no parent column for placeholder {{{name}}}; add "
                               f"keys: {{{name}: <column of {parent.name}>}}")
        for child, column in keys.items():
            if child not in e.path_columns:
                raise _Problem((*where, "keys", child), f"{child!r} is not a placeholder of {e.path!r}; remove it")
            if not parent.has_field(column):
                raise _Problem((*where, "keys", child), f"{column!r} is not a column of {parent.name}; use one of "
                               f"{', '.join(parent.column_names)}")
        seen, cur = {e.name}, parent
        while cur is not None and cur.parent is not None:
            if cur.name in seen:
                raise _Problem((*where, "entity"), f"parents form a cycle through {cur.name!r}; end the chain at "
                               "an entity without placeholders")
            seen.add(cur.name)
            cur = by_name.get(cur.parent.entity)
        return dataclasses.replace(e, parent=Parent(parent.name, tuple(keys.items())))

    def placeholders(self, template: str, path: PathKey, *, required: bool) -> None:
        found = _PLACEHOLDER.findall(template)
        bad = [p for p in found if p != "id"]
        if bad:
            raise _Problem(path, f"unknown placeholder {{{bad[0]}}} in {template!r}; only {{id}} is allowed")
        if required and not found:
            raise _Problem(path, f"{template!r} has no {{id}}; write e.g. /v1/items/{{id}}")

    def field(self, d: dict[str, Any], path: PathKey) -> Field:
        try:
            ftype = parse_type(d["type"])
        except CatalogError as exc:
            raise _Problem((*path, "type"), str(exc)) from None
        filters = []
        for i, f in enumerate(d.get("filters", [])):
            filters.append(self.filter(f, (*path, "filters", i), d["name"], ftype))
            if any(x.op == filters[-1].op for x in filters[:-1]):
                raise _Problem((*path, "filters", i, "op"), f"operator {f['op']!r} is listed twice; keep one")
        api_name = d.get("api_name", d["name"])
        if any(part == "" for part in api_name.split(".")):
            raise _Problem((*path, "api_name"), f"{api_name!r} has an empty segment; write keys separated by single dots")
        return Field(
            name=d["name"],
            api_name=api_name,
            type=ftype,
            nullable=d.get("nullable", True),
            description=d.get("description"),
            filters=tuple(filters),
            writable=d.get("writable", False),
        )

    def filter(self, d: dict[str, Any], path: PathKey, column: str, ftype: FieldType) -> FieldFilter:
        f = FieldFilter(**d)
        tname = format_type(ftype)
        if not is_scalar(ftype):
            raise _Problem((*path, "op"), f"{column} is {tname}; filters apply only to scalar columns, remove it")
        if f.op in _RANGE_OPS and not is_ordered(ftype):
            raise _Problem((*path, "op"), f"{f.op!r} needs an ordered type but {column} is {tname}; use eq, ne or in")
        if f.op == "contains" and ftype.kind != "string":
            raise _Problem((*path, "op"), f"'contains' needs a string column but {column} is {tname}; remove it")
        fmt_ok = {
            "string": True,
            "bool_lower": ftype.kind == "boolean",
            "number": is_numeric(ftype),
            "date": ftype.kind in ("date", "timestamp"),
        }.get(f.format, ftype.kind in ("timestamp", "date") if f.format in _TIME_FORMATS else False)
        if not fmt_ok:
            raise _Problem((*path, "format"), f"format {f.format!r} does not fit {column} ({tname}); {_format_hint(ftype)}")
        bad = [p for p in _PLACEHOLDER.findall(f.param) if p != "op"]
        if bad:
            raise _Problem((*path, "param"), f"unknown placeholder {{{bad[0]}}} in {f.param!r}; only {{op}} is allowed")
        if f.op != "in" and f.max_values is not None:
            raise _Problem((*path, "max_values"), "max_values applies only to op 'in'; remove it")
        if f.op != "in" and f.repeat:
            raise _Problem((*path, "repeat"), "repeat applies only to op 'in' (one key per value); remove it")
        return f

    def sort(self, d: dict[str, Any] | None, path: PathKey, column: Any) -> Sort | None:
        if d is None:
            return None
        options = []
        param = d.get("param", "sort")
        for i, o in enumerate(d.get("options", [])):
            column("sort column", ("sort", "options", i, "column"), o["column"])
            descending = o.get("descending", False)
            if "value" not in o and not o.get("params"):
                raise _Problem((*path, "options", i), "an option needs value (of param) or params; add "
                               "e.g. value: -updated_at or params: {sort: updated_at, order: desc}")
            pairs = ([(o.get("param", param), str(o["value"]))] if "value" in o else []) + [
                (k, _param_text(v)) for k, v in o.get("params", {}).items()
            ]
            simple = "value" in o and "param" not in o and not o.get("params")
            options.append((o["column"], descending, str(o["value"]) if simple else tuple(pairs)))
        default: tuple[str, bool] | None = ("id", False)
        if "default" in d:
            default = None if d["default"] is None else (d["default"]["column"], d["default"].get("descending", False))
        if default is not None:
            column("sort default", ("sort", "default", "column"), default[0])
        return Sort(param=param, options=tuple(options), default=default)

    def split(self, d: dict[str, Any] | None, path: PathKey, column: Any) -> SplitHint | None:
        if d is None:
            return None
        f = column("split field", ("split", "field"), d["field"])
        hint = SplitHint(**d)
        if hint.kind == "time":
            if f.type.kind not in ("timestamp", "date") or f.nullable:
                raise _Problem(
                    (*path, "field"),
                    f"time splits need a non-nullable timestamp or date column; {f.name} is "
                    f"{format_type(f.type)}{' and nullable' if f.nullable else ''}",
                )
            bounds = []
            for key in ("start", "end"):
                value = d.get(key)
                if value is None:
                    continue
                try:
                    bounds.append(dt.date.fromisoformat(value[:10]))
                except ValueError:
                    raise _Problem((*path, key), f"{value!r} is not an ISO date; write e.g. 2024-01-01") from None
            if len(bounds) == 2 and bounds[0] >= bounds[1]:
                raise _Problem((*path, "end"), "end must be after start; swap or fix them")
        elif f.type.kind not in ("string", "int32", "int64") or f.nullable:
            raise _Problem((*path, "field"), f"id_range splits need a non-nullable string or integer column; {f.name} is not")
        return hint

    def write(self, d: dict[str, Any], path: PathKey, pk: Field | None) -> WriteOperation:
        w = WriteOperation(**d)
        self.placeholders(w.path, (*path, "path"), required=False)
        has_id = "{id}" in w.path
        if w.batch_size > 1 and has_id:
            raise _Problem((*path, "batch_size"), "a path with {id} takes one record per request; set batch_size: 1")
        if w.batch_size > 1 and not w.body_key:
            raise _Problem((*path, "body_key"), "batches need a body_key to wrap the records, e.g. data")
        if has_id and pk is None:
            raise _Problem((*path, "path"), "{id} needs the entity's primary_key; set primary_key")
        for key in ("item_key", "id_key", "trace_key"):
            if getattr(w, key) and has_id:
                raise _Problem((*path, key), f"{key} shapes the items of a batch; a path with {{id}} sends one "
                               "record, remove it")
        if w.op in ("update", "delete") and not has_id and w.batch_size == 1:
            raise _Problem((*path, "path"), f"{w.op} of one record needs {{id}} in the path, e.g. /v1/items/{{id}}")
        return w


def _param_text(value: Any) -> str:
    """A static parameter's value as sent: booleans lower-case (`true`), numbers as written."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _static_params(d: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((k, _param_text(v)) for k, v in d.items())


def _format_hint(ftype: FieldType) -> str:
    if ftype.kind == "boolean":
        return "use string or bool_lower"
    if ftype.kind in ("timestamp", "date"):
        return "use string, " + ", ".join(_TIME_FORMATS)
    if is_numeric(ftype):
        return "use string or number"
    return "use string"
