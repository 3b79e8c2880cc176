"""Endpoints recognised beside a list path: a search (`…/search` taking a filter body, or a
query-language string), batch writes (`…/batch/create|update|upsert|archive` taking
`{inputs: […]}`) and a batch read by id (`…/batch/read`). Each is drafted with the catalog's
keys (docs/catalog.md), or left as a commented suggestion where the document cannot say enough.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from saasbridge.catalog.openapi.document import Document, stated_maximum
from saasbridge.catalog.openapi.notes import Noted
from saasbridge.catalog.openapi.paging import COMMON_CAP, draft_pagination, total_path

# the API's operator spellings (normalised: lower case, no punctuation) → the catalog's ops
OPERATOR_WORDS = {
    "eq": "eq", "equals": "eq", "equal": "eq", "is": "eq",
    "neq": "ne", "ne": "ne", "notequals": "ne", "notequal": "ne", "isnot": "ne",
    "lt": "lt", "lessthan": "lt", "lte": "le", "le": "le", "lessthanorequal": "le", "lessthanorequalto": "le",
    "gt": "gt", "greaterthan": "gt", "gte": "ge", "ge": "ge", "greaterthanorequal": "ge",
    "greaterthanorequalto": "ge", "in": "in", "notin": "not_in", "nin": "not_in", "between": "between",
    "hasproperty": "not_null", "isnotempty": "not_null", "exists": "not_null", "notnull": "not_null",
    "nothasproperty": "is_null", "isempty": "is_null", "notexists": "is_null", "isnull": "is_null",
    "containstoken": "contains", "contains": "contains",
}
FIELD_KEYS = ("propertyName", "property", "field", "fieldName", "attribute", "key", "name")
OPERATOR_KEYS = ("operator", "op", "comparison", "condition")
HIGH_KEYS = ("highValue", "high", "to", "value2", "upper")
PROJECTION_KEYS = ("properties", "fields", "attributes", "select")
QUERY_PARAMS = ("query", "q", "jql", "search", "filter")
CAP_FIELD = "<a non-nullable timestamp column the search filters on>"
BATCH_OPS = (("create", "insert"), ("update", "update"), ("upsert", "upsert"), ("archive", "delete"),
             ("delete", "delete"))


def draft_search(
    document: Document, list_path: str, records_path: str, by_api: dict[str, dict[str, Any]]
) -> tuple[Noted | None, list[str], str | None]:
    """(the `search` of the entity listed at `list_path`, with its records at `records_path`
    and its columns by api name; comment lines of a suggestion; the search path used)."""
    for path in (f"{list_path}/search", f"{list_path}/query"):
        item = document.resolve(document.paths.get(path))
        if post := item.get("post"):
            body = document.request_schema(post) or {}
            search = _body_search(document, path, body, document.response_schema(post), records_path, by_api)
            if search is not None:
                return search, [], path
        if get := item.get("get"):
            params = {p["name"]: p for p in document.parameters(item, get) if p.get("in") == "query"}
            if query := next((p for p in QUERY_PARAMS if p in params), None):
                return None, _query_language_suggestion(document, path, get, params, query), path
    return None, [], None


def _body_search(
    document: Document, path: str, body: dict[str, Any], answer: dict[str, Any] | None, records_path: str,
    by_api: dict[str, dict[str, Any]],
) -> Noted | None:
    """A POST search whose body holds OR-groups of AND-conditions (HubSpot's `filterGroups`)."""
    props = document.properties(body)
    for at, groups in props.items():
        group_schema = document.unwrap_nullable(groups)[0]
        if group_schema.get("type") != "array":
            continue
        inner = document.properties(group_schema.get("items"))
        for and_key, conditions in inner.items():
            condition_schema = document.unwrap_nullable(conditions)[0]
            condition = document.properties(condition_schema.get("items")) if condition_schema.get("type") == "array" else {}
            found = _condition(document, condition)
            if found is None:
                continue
            template, operators, conditions_by_op = found
            search = Noted(path=path, method="POST")
            search["filter"] = flt = Noted(at=at, shape="groups", **{"and": {and_key: "{items}"}},
                                           condition=template, operators=operators)
            if conditions_by_op:
                flt["conditions"] = conditions_by_op
            if (groups_cap := _up_to(group_schema)) is not None:
                flt["max_groups"] = groups_cap
            if (per_group := _up_to(condition_schema)) is not None:
                flt["max_per_group"] = per_group
            flt.note("operators", "from the condition schema's operator enum")
            _search_paging(document, search, body, answer, records_path)
            _search_projection(document, search, body, by_api)
            return search
    return None


def _condition(document: Document, condition: dict[str, Any]) -> tuple[dict, dict, dict] | None:
    """(condition template, op → API operator, op → its own template) of one filter condition."""
    field = next((k for k in FIELD_KEYS if k in condition), None)
    operator = next((k for k in OPERATOR_KEYS if k in condition), None)
    if field is None or operator is None:
        return None
    tokens = document.unwrap_nullable(condition[operator])[0].get("enum") or []
    operators = {}
    for token in tokens:
        op = OPERATOR_WORDS.get(re.sub(r"[^a-z]", "", str(token).lower()))
        if op and op not in operators:
            operators[op] = str(token)
    if "eq" not in operators:
        return None
    base = {field: "{field}", operator: "{op}"}
    template = {**base, "value": "{value}"} if "value" in condition else dict(base)
    by_op: dict[str, Any] = {}
    if "values" in condition:
        by_op.update({op: {**base, "values": "{values}"} for op in ("in", "not_in") if op in operators})
    high = next((k for k in HIGH_KEYS if k in condition), None)
    if "between" in operators and high and "value" in condition:
        by_op["between"] = {**base, "value": "{low}", high: "{high}"}
    else:
        operators.pop("between", None)
    by_op.update({op: dict(base) for op in ("is_null", "not_null") if op in operators})
    for op in ("in", "not_in"):
        if op in operators and op not in by_op:
            operators.pop(op)
    return template, operators, by_op


def _search_paging(document: Document, search: Noted, body: dict[str, Any], answer: dict[str, Any] | None,
                   records_path: str) -> None:
    """The search's own paging: cursor and page size in the body, the cursor and total in its answer."""
    props = document.properties(body)
    found = document.records_of(answer)
    records_key = found[0] if found else ""
    params = {name: {"name": name, "schema": spec, "description": document.resolve(spec).get("description")}
              for name, spec in props.items()}
    paging = draft_pagination(document, params, answer, records_key, found[1] if found else {}, [])
    if paging.get("style") in ("cursor", "last_id", "next_url"):
        if total := total_path(document, answer):
            paging["total_path"] = total
        search["pagination"] = paging
    else:
        search.note("path", "guess: no paging found in the search body; the entity's pagination is used")
    if found and found[0] != records_path:
        search["records_path"] = found[0]
    if (cap := _result_cap(document, answer)) is not None and paging.get("total_path"):
        search.comment_before("path", [
            f"the answer says at most {cap} results per query: to read past them, cut by a timestamp column:",
            f"  max_results: {cap}", f"  cap_field: {CAP_FIELD}",
        ])


def _result_cap(document: Document, answer: dict[str, Any] | None) -> int | None:
    """The most results one query returns, when a field of the answer says so ("only accurate up
    to 10,000"); page sizes (≤ 100) are not caps."""
    found = [n for _, spec in document.leaves(answer) if (n := _up_to(spec)) is not None] if answer else []
    return max(found) if found and max(found) > COMMON_CAP else None


def _search_projection(document: Document, search: Noted, body: dict[str, Any],
                       by_api: dict[str, dict[str, Any]]) -> None:
    """The body's list of names to return; when it names the entries of the records' property
    map (`properties`), conditions name those entries too, without the `properties.` prefix."""
    props = document.properties(body)
    projection = next((k for k in PROJECTION_KEYS if k in props
                       and document.unwrap_nullable(props[k])[0].get("type") == "array"), None)
    if projection is None:
        return
    search["projection"] = projection
    holder = by_api.get(projection)
    if holder is not None and holder["type"].startswith("map<"):
        search["strip_prefix"] = f"{projection}."
        search["filterable"] = []
        search.note("filterable", f"guess: conditions name entries of the {projection!r} map, which the document "
                    f"does not list: add columns with api_name {projection}.NAME (or `properties` discovery) "
                    "and list them here")


def _query_language_suggestion(document: Document, path: str, get: dict[str, Any],
                               params: dict[str, dict[str, Any]], query: str) -> list[str]:
    """A commented `search` skeleton for a query-language endpoint: OpenAPI does not describe
    the grammar, so its operators, quoting and escaping are for the user to check."""
    answer = document.response_schema(get)
    found = document.records_of(answer)
    paging = draft_pagination(document, {k: v for k, v in params.items() if k != query}, answer,
                              found[0] if found else "", found[1] if found else {}, [])
    if total := total_path(document, answer):
        paging["total_path"] = total
    skeleton: dict[str, Any] = {"search": {
        "path": path, "method": "GET",
        "query": {"param": query, "operators": {"eq": "{field}:{value}", "gt": "{field}>{value}",
                                                "lt": "{field}<{value}"},
                  "and": " AND ", "or": " OR ", "quote": '"', "escape": [["\\", "\\\\"], ['"', '\\"']]},
        "pagination": dict(paging),
    }}
    if (cap := _result_cap(document, answer)) is not None and total:
        skeleton["search"].update(max_results=cap, cap_field=CAP_FIELD)
    description = " ".join(str(params[query].get("description") or "").split())[:200]
    lines = [f"search endpoint {path} takes a query string in ?{query}; OpenAPI does not give its grammar"]
    if description:
        lines.append(f"({description})")
    lines.append("check operators, quoting and escaping against the API's docs, then uncomment:")
    return lines + ["  " + line for line in yaml.safe_dump(skeleton, sort_keys=False, width=100, default_flow_style=None).splitlines()]


def draft_batches(document: Document, list_path: str, entity: Noted) -> tuple[list[Noted], Noted | None]:
    """(batch write operations, the batch read) at `{list}/batch/{op}`."""
    writes: list[Noted] = []
    for verb, op in BATCH_OPS:
        operation = document.resolve(document.paths.get(f"{list_path}/batch/{verb}")).get("post")
        if not operation or any(w["op"] == op for w in writes):
            continue
        if (write := _batch_write(document, f"{list_path}/batch/{verb}", op, operation)) is not None:
            writes.append(write)
    read = None
    operation = document.resolve(document.paths.get(f"{list_path}/batch/read")).get("post")
    if operation and entity.get("primary_key", "id") is not None:
        read = _batch_read(document, f"{list_path}/batch/read", operation)
    return writes, read


def _inputs(document: Document, body: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(key of the item list, its array schema, the item's properties) of a batch body."""
    for key, spec in document.properties(body).items():
        array = document.unwrap_nullable(spec)[0]
        if array.get("type") == "array":
            item = document.properties(array.get("items"))
            if item:
                return key, array, item
    return None


def _batch_write(document: Document, path: str, op: str, operation: dict[str, Any]) -> Noted | None:
    found = _inputs(document, document.request_schema(operation) or {})
    if found is None:
        return None
    key, array, item = found
    write = Noted(op=op, method="POST", path=path, body_key=key)
    size = array.get("maxItems") or _up_to(array) or _up_to(operation)
    write["batch_size"] = int(size or COMMON_CAP)
    if not size:
        write.note("batch_size", f"guess: the document gives no batch size; {COMMON_CAP} is common")
    holder = next((k for k in PROJECTION_KEYS if k in item
                   and document.unwrap_nullable(item[k])[0].get("type") == "object"), None)
    if holder and op != "delete":
        write["item_key"] = holder
    if "id" in item and op != "insert":
        write["id_key"] = "id"
        if op == "upsert" and (unique := next((k for k in item if k.lower() == "idproperty"), None)):
            write.note("id_key", f"guess: the record id; to upsert by a unique property, the API wants {unique}")
    trace = next((k for k in item if re.search(r"trace", k, re.I)), None)
    if trace:
        write["trace_key"] = trace
    answer = document.response_schema(operation) or {}
    results = document.records_of(answer)
    if results:
        write["result_path"] = results[0]
    responses = operation.get("responses", {})
    answers = [document.response_schema({"responses": {s: responses[s]}}) for s in ("207", 207) if s in responses]
    errors = next((document.properties(a) for a in answers if a), None) or document.properties(answer)
    if "errors" in errors:
        write["errors_path"] = "errors"
        error = document.properties(document.unwrap_nullable(errors["errors"])[0].get("items"))
        if "index" not in error and "context" in error and write.get("trace_key"):
            write["error_ref_path"] = f"context.{write['trace_key']}"
            write.note("error_ref_path", "guess: an error names its items by their trace tokens in its context")
        elif "index" not in error:
            write.note("errors_path", "guess: the error schema names no item index; check how an error names its item")
    return write


def _batch_read(document: Document, path: str, operation: dict[str, Any]) -> Noted | None:
    body = document.request_schema(operation) or {}
    found = _inputs(document, body)
    if found is None or "id" not in found[2]:
        return None
    key, array, _ = found
    read = Noted(path=path, method="POST", ids_at=key, id_item={"id": "{id}"})
    props = document.properties(body)
    if projection := next((k for k in PROJECTION_KEYS if k in props), None):
        read["projection"] = projection
    answer = document.records_of(document.response_schema(operation))
    read["records_path"] = answer[0] if answer else "results"
    size = array.get("maxItems") or _up_to(array) or _up_to(operation)
    read["max_ids"] = int(size or COMMON_CAP)
    if not size:
        read.note("max_ids", f"guess: the document gives no limit; {COMMON_CAP} is common")
    return read


def _up_to(schema: dict[str, Any]) -> int | None:
    """A maximum the description or summary states ("Up to 6 groups", "only accurate up to 10,000")."""
    return stated_maximum(schema.get("description"), schema.get("summary"))
