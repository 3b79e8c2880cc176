"""Draft a catalog from an OpenAPI 3.0/3.1 document.

List endpoints (GET without a trailing path parameter, answering an array of objects, bare or
under a key) become entities; record schemas become typed columns with nullability; query
parameters become pushdown (eq filters, `*_since`/`*_until` ranges, `ids`, `fields`, `sort`);
the answer's paging fields give the pagination (paging.py); `{id}` paths give fetch-by-id and
writes; `…/search` and `…/batch/…` paths give the search and batch endpoints (endpoints.py);
the security schemes give the auth (auth.py). Every guess carries a comment (notes.py).
"""

from __future__ import annotations

import re
import urllib.parse
from collections import defaultdict
from typing import Any

from saasbridge.catalog.openapi.auth import draft_auth
from saasbridge.catalog.openapi.document import Document, stated_maximum
from saasbridge.catalog.openapi.endpoints import draft_batches, draft_search
from saasbridge.catalog.openapi.notes import Noted
from saasbridge.catalog.openapi.paging import draft_pagination
from saasbridge.errors import CatalogError

IDS_PARAMS = ("ids", "id__in", "id_in")
PROJECTION_PARAMS = ("fields", "select", "$select", "properties")
SORT_PARAMS = ("sort", "order_by", "orderBy", "sort_by", "sortBy", "order")
# a sort direction of its own (`order=desc` beside `sort_by=created_at`): enum of asc/desc
DIRECTION_PARAMS = ("order", "direction", "sort_order", "sortOrder", "sort_dir", "sortDir", "dir")
# (suffix, op): `updated_since` → updated_at >= value, `created_before` → created_at < value, …
TIME_SUFFIXES = (("_since", "ge"), ("_from", "ge"), ("_after", "gt"), ("_until", "lt"), ("_before", "lt"))
_SYMBOLS = {"ge": ">=", "gt": ">", "lt": "<"}
_PATH_PARAM = re.compile(r"\{([^}]+)\}")
WRITE_ORDER = ("insert", "update", "upsert", "delete")  # the order writes are drafted in
_ENTITY_KEY_ORDER = (
    "name", "path", "parent", "params", "primary_key", "get_path", "ids_param", "ids_max", "projection_param",
    "projection_repeat", "incremental_field", "records_path", "pagination", "sort", "search", "batch_read",
    "fields", "writes",
)
_CATALOG_KEY_ORDER = ("name", "title", "description", "base_url", "auth", "params", "pagination", "records_path",
                      "rate_limit", "entities")


def snake_case(name: str) -> str:
    """`postalCode` → `postal_code`, `Annual Revenue` → `annual_revenue` (Athena lower-cases names)."""
    s = re.sub(r"(?<=[a-z0-9])([A-Z])(?=[a-z])", r"_\1", name)
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s)
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()
    return s if s and s[0].isalpha() else f"c_{s}"


def draft_catalog(
    doc: dict[str, Any], *, name: str | None = None, base_url: str | None = None, source_url: str | None = None
) -> Noted:
    """The draft catalog (a YAML-ready mapping, its guesses in comments) for an OpenAPI document."""
    return _Drafter(Document(doc)).catalog(name=name, base_url=base_url, source_url=source_url)


class _Drafter:
    def __init__(self, document: Document):
        self.document = document
        self.children: dict[str, list[str]] = defaultdict(list)  # path → the paths one segment below it
        for path in document.paths:
            self.children[path.rstrip("/").rpartition("/")[0]].append(path)

    def type_of(self, schema: Any) -> str:
        return self.document.type_of(schema)

    def catalog(self, *, name: str | None, base_url: str | None, source_url: str | None) -> Noted:
        document = self.document
        info = document.doc.get("info", {})
        entities: list[Noted] = []
        used: set[str] = set()  # search and batch paths: not entities of their own
        for path, item in document.paths.items():
            item = document.resolve(item)
            get = item.get("get")
            if not get or path in used or _PATH_PARAM.fullmatch(path.rstrip("/").rsplit("/", 1)[-1]):
                continue  # an item path (`/accounts/{id}`): fetch-by-id of a list path
            schema = document.response_schema(get)
            found = document.records_of(schema) if schema else None
            if not found:
                continue
            records_path, record = found
            params = document.parameters(item, get)
            entity = self.entity(path, record, params, schema or {}, document.response_headers(get), records_path)
            self.add_writes(entity, path, item)
            if _PATH_PARAM.search(path):
                self.scope(entity, path, params, entities)
            else:
                used |= self.add_endpoints(entity, path)
            entity["name"] = _distinct(entity["name"], path, {e["name"] for e in entities})
            entities.append(entity)
        entities = [e for e in entities if e["path"] not in used]
        if not entities:
            raise CatalogError(
                "the OpenAPI document has no list endpoint (GET without path parameters answering an array "
                "of objects); describe the entities by hand, see docs/catalog.md"
            )
        return self.assemble(entities, name=name, base_url=base_url, source_url=source_url, info=info)

    def assemble(self, entities: list[Noted], *, name: str | None, base_url: str | None, source_url: str | None,
                 info: dict[str, Any]) -> Noted:
        """The catalog around its entities: the most common pagination and records path are the
        catalog's, the others stay on their entity."""
        styles = [e.pop("_pagination") for e in entities]
        records_paths = [e.pop("_records_path") for e in entities]
        default_pagination = max(styles, key=styles.count)
        default_records = max(records_paths, key=records_paths.count)
        for e, style, records in zip(entities, styles, records_paths, strict=True):
            if style != default_pagination:
                e["pagination"] = style
            if records != default_records:
                e["records_path"] = records
        shared = entities[0].get("params")
        shared_note = entities[0].notes.get("params")
        if shared and all(e.get("params") == shared for e in entities):
            for e in entities:
                del e["params"]
                e.notes.pop("params", None)
        else:
            shared = None
        auth, alternatives = draft_auth(self.document)
        out = Noted(
            name=snake_case(name or info.get("title") or "api")[:60],
            title=info.get("title"),
            description=_one_line(info.get("description")),
            base_url=self.base_url(base_url, source_url),
            auth=auth,
            params=shared,
            pagination=default_pagination,
            records_path=default_records,
            rate_limit={"requests_per_second": 10, "burst": 10, "max_concurrency": 4},
            entities=[e.reordered(_ENTITY_KEY_ORDER) for e in entities],
        ).without_none()
        out.note("rate_limit", "guess: OpenAPI does not say; set the API's published limits")
        if shared and shared_note:
            out.note("params", shared_note)
        if alternatives:
            out.comment_before("auth", alternatives)
        return out.reordered(_CATALOG_KEY_ORDER)

    def base_url(self, given: str | None, source_url: str | None) -> str:
        if given:
            return given.rstrip("/")
        servers = self.document.doc.get("servers") or []
        url = servers[0].get("url", "") if servers and isinstance(servers[0], dict) else ""
        if source_url:
            url = urllib.parse.urljoin(source_url, url or "/")
        if not re.match(r"https?://", url):
            return "${SAASBRIDGE_API_URL}"
        return "${SAASBRIDGE_API_URL:-" + url.rstrip("/") + "}"

    def add_endpoints(self, entity: Noted, path: str) -> set[str]:
        """The search and batch endpoints beside a list path: drafted when the catalog knows their
        keys, else left as a commented suggestion; the paths they use."""
        used: set[str] = set()
        by_api = {f.get("api_name", f["name"]): f for f in entity["fields"]}
        search, suggestion, search_path = draft_search(self.document, path, entity["_records_path"], by_api)
        writes, read = draft_batches(self.document, path, entity)
        used |= {w["path"] for w in writes} | {p for p in (search_path, read and read["path"]) if p}
        entity.update({k: v for k, v in {"search": search, "batch_read": read}.items() if v is not None})
        if writes:
            batched = {w["op"] for w in writes}
            entity["writes"] = [*writes, *(w for w in entity.get("writes", []) if w["op"] not in batched)]
        if suggestion:
            entity.comment_before("fields", suggestion)
        return used

    def scope(self, entity: Noted, path: str, params: list[dict[str, Any]], drafted: list[Noted]) -> None:
        """A parent-scoped list path: each placeholder becomes a column (named in snake_case, added
        when the records lack it); one placeholder right after a drafted list path makes that
        entity the parent. Fetch-by-id and writes under such a path are left out."""
        fields = entity["fields"]
        types = {p["name"]: self.type_of(p.get("schema", {})) for p in params if p.get("in") == "path"}
        scoped = path
        for raw in _PATH_PARAM.findall(path):
            column = snake_case(raw)
            scoped = scoped.replace("{" + raw + "}", "{" + column + "}")
            found = next((f for f in fields if f["name"] == column), None)
            if found is None:
                kind = types.get(raw, "string")
                found = {"name": column, "type": kind if kind in ("string", "int32", "int64") else "string"}
                fields.insert(0, found)
            found["nullable"] = False
        entity["path"] = scoped
        entity.pop("get_path", None)
        entity.pop("writes", None)
        head, _, _rest = path.rpartition("/")
        parent_path, _, last = head.rpartition("/")
        parent = next((e for e in drafted if e["path"] == parent_path), None)
        if len(_PATH_PARAM.findall(path)) == 1 and _PATH_PARAM.fullmatch(last) and parent \
                and parent.get("primary_key", "id") is not None:
            entity["parent"] = {"entity": parent["name"]}

    def entity(
        self, path: str, record: dict[str, Any], params: list[dict[str, Any]], page: dict[str, Any],
        headers: list[str], records_path: str,
    ) -> Noted:
        name = snake_case(path.rstrip("/").rsplit("/", 1)[-1])
        required = set(record.get("required", []))
        fields: list[dict[str, Any]] = []
        by_api: dict[str, dict[str, Any]] = {}
        for api_name, prop in record.get("properties", {}).items():
            s, nullable = self.document.unwrap_nullable(prop)
            f: dict[str, Any] = {"name": snake_case(api_name)}
            if f["name"] != api_name:
                f["api_name"] = api_name
            f["type"] = self.type_of(prop)
            f["nullable"] = nullable or api_name not in required
            desc = _one_line(s.get("description") or prop.get("description") if isinstance(prop, dict) else None)
            if s.get("enum"):
                desc = ", ".join(map(str, s["enum"])) + (f" ({desc})" if desc else "")
            if desc:
                f["description"] = desc
            fields.append(f)
            by_api[api_name] = f
        entity = Noted(name=name, path=path)
        if any(f["name"] == "id" for f in fields):
            by_api.get("id", next(f for f in fields if f["name"] == "id"))["nullable"] = False
        elif key := self.item_key_column(path, fields):
            entity["primary_key"] = key["name"]
            key["nullable"] = False
            entity.note("primary_key", "guess: the item path's placeholder names this column")
        else:
            entity["primary_key"] = None

        query = [p for p in params if p.get("in") == "query"]
        by_name = {p["name"]: p for p in query}
        pagination = draft_pagination(self.document, by_name, page, records_path, record, headers)
        used = {pagination.get("limit_param"), pagination.get("cursor_param"), pagination.get("offset_param"),
                pagination.get("page_param")}
        direction = self.direction(query)
        if direction:
            used.add(direction[0])
        for p in query:
            pname = p["name"]
            if pname in used:
                continue
            pschema, _ = self.document.unwrap_nullable(p.get("schema", {}))
            repeated = pschema.get("type") == "array" and p.get("explode", p.get("style", "form") == "form")
            fixed = pschema["enum"] if len(pschema.get("enum") or ()) == 1 else ([pschema["const"]] if "const" in pschema else [])
            if p.get("required") and fixed:
                entity.setdefault("params", {})[pname] = fixed[0]  # e.g. a required API version
            elif pname in IDS_PARAMS and "id" in by_api:
                entity["ids_param"] = pname
                entity["ids_max"] = stated_maximum(p.get("description")) or int(pschema.get("maxItems", 100))
            elif pname in PROJECTION_PARAMS and by_api.get(pname, {}).get("type", "").startswith("map<"):
                entity.note("path", f"?{pname} names entries of the {pname!r} map, not columns: no projection_param")
                entity.comment_before("fields", [
                    f"the {pname!r} map holds per-customer properties; to read them as columns, name the API's",
                    "property-metadata endpoint (OpenAPI does not link it) and uncomment:",
                    f"  projection_param: {pname}",
                    f"  properties: {{path: <GET endpoint listing the properties>, records_path: results, "
                    f"api_prefix: {pname}.}}",
                ])
            elif pname in PROJECTION_PARAMS:
                entity["projection_param"] = pname
                if repeated:
                    entity["projection_repeat"] = True
            elif pname in SORT_PARAMS:
                sort = self.sort(pname, pschema, by_api, direction)
                if sort:
                    entity["sort"] = sort
            elif pname in by_api and (ranges := self.range_operators(p, pschema)):
                for op, bound in ranges:  # `created[gte]=…`: one filter per bound (Stripe)
                    self.add_filter(by_api[pname], {"op": op, "param": f"{pname}[{bound}]"})
                if any(self.document.resolve(o).get("type") in ("integer", "number", "string")
                       for o in pschema.get("anyOf") or pschema.get("oneOf") or ()):
                    self.add_filter(by_api[pname], {"op": "eq", "param": pname})
            elif pname in by_api and pschema.get("type") == "array":
                self.add_filter(by_api[pname], {"op": "in", "param": pname, **({"repeat": True} if repeated else {})})
            elif pname in by_api:
                self.add_filter(by_api[pname], {"op": "eq", "param": pname})
                if everything := self.unfiltered_value(pschema):
                    entity.setdefault("params", {})[pname] = everything
                    entity.note("params", f"?{pname} defaults to {pschema['default']!r}, which would hide the "
                                "other rows: asked for all (a filter on the column replaces it)")
            elif (target := self.time_target(pname, by_api)) is not None:
                f, op = target
                fmt = "date" if f["type"] == "date" else "iso8601"
                flt = Noted(op=op, param=pname, format=fmt)
                flt.note("op", f"guess from the name: ?{pname} keeps {f['name']} {_SYMBOLS[op]} value")
                self.add_filter(f, flt)
        for f in fields:
            for flt in f.get("filters", []):
                if "format" not in flt:
                    flt.update(_value_format(f["type"]))
        incremental = next(
            (f["name"] for f in fields if f["type"] == "timestamp" and any(x["op"] in ("ge", "gt") for x in f.get("filters", []))),
            next((f["name"] for f in fields if f["name"] in ("updated_at", "modified_at") and f["type"] == "timestamp"), None),
        )
        if incremental:
            entity["incremental_field"] = incremental
            entity.note("incremental_field", "guess: the timestamp an incremental pull filters on")
        entity["fields"] = fields
        entity["_pagination"], entity["_records_path"] = pagination, records_path
        return entity

    @staticmethod
    def unfiltered_value(schema: dict[str, Any]) -> str | None:
        """The enum value that lists everything (`all`) of a parameter whose default filters
        (GitHub's `state` defaults to `open`), or None."""
        everything = next((v for v in schema.get("enum") or () if str(v).lower() == "all"), None)
        default = schema.get("default")
        return str(everything) if everything is not None and default is not None and default != everything else None

    def range_operators(self, param: dict[str, Any], schema: dict[str, Any]) -> list[tuple[str, str]]:
        """(op, bound key) of a deepObject parameter whose object takes range bounds
        (`{gt, gte, lt, lte}` → `created[gte]=…`)."""
        if param.get("style") != "deepObject":
            return []
        options = [self.document.resolve(o) for o in schema.get("anyOf") or schema.get("oneOf") or [schema]]
        bounds = next((o["properties"] for o in options if o.get("type") == "object" and o.get("properties")), {})
        ops = {"gt": "gt", "gte": "ge", "ge": "ge", "lt": "lt", "lte": "le", "le": "le"}
        return [(ops[k], k) for k in bounds if k in ops] if set(bounds) <= set(ops) else []

    @staticmethod
    def add_filter(field: dict[str, Any], flt: dict[str, Any]) -> None:
        if field["type"].startswith(("list", "struct", "map")):
            return
        if any(x["op"] == flt["op"] for x in field.get("filters", [])):
            return
        field.setdefault("filters", []).append(flt)

    @staticmethod
    def time_target(param: str, by_api: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], str] | None:
        for suffix, op in TIME_SUFFIXES:
            if param.endswith(suffix):
                stem = param[: -len(suffix)]
                for candidate in (f"{stem}_at", stem, f"{stem}_date", f"{stem}_on", f"{stem}_time", f"{stem}At"):
                    f = by_api.get(candidate)
                    if f is not None and f["type"] in ("timestamp", "date"):
                        return f, op
        return None

    def direction(self, query: list[dict[str, Any]]) -> tuple[str, str, str, bool] | None:
        """(parameter, its ascending value, its descending value, descending by default) of a sort
        direction parameter such as `order=asc|desc`."""
        for p in query:
            schema, _ = self.document.unwrap_nullable(p.get("schema", {}))
            values = {str(v).lower(): str(v) for v in schema.get("enum") or ()}
            if p["name"] in DIRECTION_PARAMS and set(values) == {"asc", "desc"}:
                return p["name"], values["asc"], values["desc"], str(schema.get("default", "")).lower() == "desc"
        return None

    def sort(self, param: str, schema: dict[str, Any], by_api: dict[str, dict[str, Any]],
             direction: tuple[str, str, str, bool] | None = None) -> dict[str, Any] | None:
        options = []
        for value in schema.get("enum", []):
            value = str(value)
            descending = value.startswith("-")
            key = value.lstrip("-+")
            if key not in by_api:
                continue
            if direction and value == key:  # the direction is its own parameter: one option per direction
                dparam, asc, desc, _ = direction
                for is_desc, word in ((False, asc), (True, desc)):
                    options.append({"column": by_api[key]["name"], "descending": is_desc, "value": value,
                                    "params": {dparam: word}})
            else:
                options.append({"column": by_api[key]["name"], "descending": descending, "value": value})
        if not options:
            return None
        sort: dict[str, Any] = {"param": param, "options": options}
        default = schema.get("default")
        if isinstance(default, str) and default.lstrip("-+") in by_api:
            descending = default.startswith("-") or bool(direction and direction[3])
            sort["default"] = {"column": by_api[default.lstrip("-+")]["name"], "descending": descending}
        else:
            sort["default"] = None
        return sort

    def add_writes(self, entity: Noted, path: str, item: dict[str, Any]) -> None:
        writes: list[dict[str, Any]] = []
        writable: set[str] = set()
        post = item.get("post")
        if post:
            op = self.collection_batch(entity, post, "insert", path, writable)
            if op is not None:
                writes.append(op)
            elif (self.document.request_schema(post) or {}).get("properties"):
                writes.append({"op": "insert", "method": "POST", "path": path, "body_key": None})
                writable |= set(self.document.request_schema(post)["properties"])
        put = item.get("put")  # PUT on the collection with a list of records: a keyed batch upsert
        if put and (op := self.collection_batch(entity, put, "upsert", path, writable)) is not None:
            writes.append(op)
        item_path = self.item_path(path)
        if item_path:
            raw_path, id_path = item_path
            by_id = self.document.resolve(self.document.paths[raw_path])
            if "get" in by_id and entity.get("primary_key", "id") is not None:
                entity["get_path"] = id_path
            for method, op_name in (("patch", "update"), ("put", "upsert"), ("delete", "delete")):
                operation = by_id.get(method)
                if not operation or any(w["op"] == op_name for w in writes):  # the batch upsert came first
                    continue
                writes.append({"op": op_name, "method": method.upper(), "path": id_path, "body_key": None})
                body = self.document.request_schema(operation) or {}
                writable |= set(body.get("properties", {}))
        if writes:
            entity["writes"] = sorted(writes, key=lambda w: WRITE_ORDER.index(w["op"]))
        for f in entity.get("fields", []):
            if f.get("api_name", f["name"]) in writable:
                f["writable"] = True

    def collection_batch(self, entity: Noted, operation: dict[str, Any], op_name: str, path: str,
                         writable: set[str]) -> dict[str, Any] | None:  # fmt: skip
        """The batch write of a POST (insert) or PUT (keyed upsert) on the collection whose body
        holds a list of this entity's records; None otherwise."""
        body = self.document.request_schema(operation) or {}
        batch = self.document.records_of(body)
        columns = {f.get("api_name", f["name"]) for f in entity["fields"]}
        if not batch or len(set(batch[1].get("properties", {})) & columns) * 2 < len(batch[1].get("properties", {})):
            return None  # none, or an array of something else (HubSpot's `associations`), not of records
        key, record = batch
        items = self.document.resolve(body.get("properties", {}).get(key, {}))
        op: dict[str, Any] = {"op": op_name, "method": "POST" if op_name == "insert" else "PUT", "path": path,
                              "batch_size": int(items.get("maxItems", 100)), "body_key": key or None}
        result = self.document.response_schema(operation) or {}
        found = self.document.records_of(result)
        if found:
            op["result_path"] = found[0]
        if result.get("properties", {}).get("errors") is not None:
            op["errors_path"] = "errors"
        writable |= set(record.get("properties", {}))
        return op

    def item_key_column(self, path: str, fields: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The column the item path's placeholder names (`/tasks/{task_gid}` → `gid`), if any."""
        found = self.item_path(path)
        if found is None:
            return None
        placeholder = snake_case(_PATH_PARAM.search(found[0].rstrip("/").rpartition("/")[2]).group(1))
        return next((f for f in fields if f["type"] in ("string", "int32", "int64")
                     and (placeholder == f["name"] or placeholder.endswith("_" + f["name"]))), None)

    def item_path(self, path: str) -> tuple[str, str] | None:
        """The `{list}/{param}` path, as written and with the placeholder renamed `{id}`."""
        for candidate in self.children.get(path.rstrip("/"), []):
            if _PATH_PARAM.fullmatch(candidate.rstrip("/").rpartition("/")[2]):
                return candidate, path.rstrip("/") + "/{id}"
        return None


def _value_format(ftype: str) -> dict[str, str]:
    if ftype == "boolean":
        return {"format": "bool_lower"}
    if ftype in ("int32", "int64", "double") or ftype.startswith("decimal"):
        return {"format": "number"}
    if ftype == "timestamp":
        return {"format": "iso8601"}
    if ftype == "date":
        return {"format": "date"}
    return {}


def _one_line(text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    return " ".join(text.split())[:300]


def _distinct(name: str, path: str, taken: set[str]) -> str:
    """An entity name no other entity has: the last static path segments joined, then a number."""
    static = [snake_case(x) for x in path.split("/") if x and not _PATH_PARAM.search(x)]
    for count in range(1, len(static) + 1):
        candidate = name if count == 1 else "_".join(static[-count:])
        if candidate not in taken:
            return candidate
    return next(f"{name}_{n}" for n in range(2, len(taken) + 3) if f"{name}_{n}" not in taken)
