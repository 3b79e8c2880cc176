"""A strict checker that reads messages the way the SDK's hand-written deserializers do:
`@type` first, every field in the exact order, the exact JSON types, no missing and no extra
field. `check_message(obj)` raises StrictnessError naming the path of the first violation."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pyarrow as pa

Check = Callable[[Any, str], None]


class StrictnessError(AssertionError):
    pass


def _fail(path: str, msg: str) -> None:
    raise StrictnessError(f"{path}: {msg}")


def string(v: Any, path: str) -> None:
    if not isinstance(v, str):
        _fail(path, f"expected a string, got {type(v).__name__}")


def integer(v: Any, path: str) -> None:
    if not isinstance(v, int) or isinstance(v, bool):
        _fail(path, f"expected a JSON integer, got {type(v).__name__}")


def boolean(v: Any, path: str) -> None:
    if not isinstance(v, bool):
        _fail(path, f"expected true/false, got {type(v).__name__}")


def int_string(v: Any, path: str) -> None:
    string(v, path)
    if not v.lstrip("-").isdigit():
        _fail(path, "expected a string holding an integer")


def nullable(check: Check) -> Check:
    def inner(v: Any, path: str) -> None:
        if v is not None:
            check(v, path)
    return inner


def list_of(check: Check) -> Check:
    def inner(v: Any, path: str) -> None:
        if not isinstance(v, list):
            _fail(path, f"expected a list, got {type(v).__name__}")
        for i, item in enumerate(v):
            check(item, f"{path}[{i}]")
    return inner


def string_map(v: Any, path: str) -> None:
    if not isinstance(v, dict):
        _fail(path, "expected an object of strings")
    for k, item in v.items():
        string(item, f"{path}.{k}")


def base64_bytes(v: Any, path: str) -> bytes:
    string(v, path)
    try:
        return base64.b64decode(v, validate=True)
    except ValueError:
        _fail(path, "not valid base64")
    return b""


def _framing(data: bytes, path: str, legacy: bool | None) -> None:
    modern = data[:4] == b"\xff\xff\xff\xff"
    if legacy is not None and modern == legacy:
        _fail(path, f"expected {'legacy' if legacy else 'modern'} Arrow IPC framing")


def arrow_schema(legacy: bool | None = None) -> Check:
    def inner(v: Any, path: str) -> None:
        data = base64_bytes(v, path)
        _framing(data, path, legacy)
        try:
            pa.ipc.read_schema(pa.py_buffer(data))
        except Exception as exc:  # noqa: BLE001 - any decode failure is the finding
            _fail(path, f"Arrow schema does not decode: {exc}")
    return inner


def obj(fields: list[tuple[str, Check]], *, typed: str | None = None, extras_ok: bool = False) -> Check:
    """An object whose keys are exactly `fields` in order (after `@type` when `typed`)."""
    expected = ([("@type", _const(typed))] if typed else []) + fields

    def inner(v: Any, path: str) -> None:
        if not isinstance(v, dict):
            _fail(path, f"expected an object, got {type(v).__name__}")
        keys = list(v)
        names = [k for k, _ in expected]
        if keys[: len(names)] != names:
            _fail(path, f"keys {keys} do not match the required order {names}")
        if len(keys) > len(names) and not extras_ok:
            _fail(path, f"unexpected extra keys {keys[len(names):]}")
        for k, check in expected:
            check(v[k], f"{path}.{k}")
    return inner


def _const(value: str | None) -> Check:
    def inner(v: Any, path: str) -> None:
        if v != value:
            _fail(path, f"expected {value!r}, got {v!r}")
    return inner


def one_of(*values: str) -> Check:
    def inner(v: Any, path: str) -> None:
        if v not in values:
            _fail(path, f"expected one of {values}, got {v!r}")
    return inner


def block(legacy: bool | None = None) -> Check:
    def inner(v: Any, path: str) -> None:
        obj([("aId", string), ("schema", arrow_schema(legacy)), ("records", string)])(v, path)
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(v["schema"])))
        if v["records"]:
            data = base64_bytes(v["records"], f"{path}.records")
            _framing(data, f"{path}.records", legacy)
            try:
                pa.ipc.read_record_batch(pa.py_buffer(data), schema)
            except Exception as exc:  # noqa: BLE001
                _fail(f"{path}.records", f"record batch does not decode: {exc}")
    return inner


def arrow_type(v: Any, path: str) -> None:
    if not isinstance(v, dict):
        _fail(path, "expected an ArrowType object")
    params: dict[str, list[tuple[str, Check]]] = {
        "Int": [("bitWidth", integer), ("isSigned", boolean)],
        "FloatingPoint": [("precision", one_of("HALF", "SINGLE", "DOUBLE"))],
        "Decimal": [("precision", integer), ("scale", integer)],
        "Date": [("unit", one_of("DAY", "MILLISECOND"))],
        "Time": [("unit", string), ("bitWidth", integer)],
        "Timestamp": [("unit", string), ("timezone", nullable(string))],
        "FixedSizeBinary": [("byteWidth", integer)],
    }
    kind = v.get("@type")
    simple = ("Utf8", "Binary", "Bool", "Null", "Struct", "List", "Map")
    if kind not in params and kind not in simple:
        _fail(path, f"unknown ArrowType {kind!r}")
    obj(params.get(kind, []), typed=kind)(v, path)


table_name = obj([("schemaName", string), ("tableName", string)])
spill_location = obj([("bucket", string), ("key", string), ("directory", boolean)], typed="S3SpillLocation")
encryption_key = nullable(obj([("key", string), ("nonce", string)]))
split = obj([("spillLocation", nullable(spill_location)), ("encryptionKey", encryption_key),
             ("properties", string_map)])
identity = obj([("id", string), ("principal", string), ("account", string), ("arn", string),
                ("tags", string_map), ("groups", list_of(string)), ("configOptions", string_map)])


def marker(legacy: bool | None) -> Check:
    return obj([("valueBlock", block(legacy)), ("bound", one_of("EXACTLY", "ABOVE", "BELOW")),
                ("nullValue", boolean)])


def value_set(legacy: bool | None) -> Check:
    def inner(v: Any, path: str) -> None:
        kind = v.get("@type") if isinstance(v, dict) else None
        if kind == "SortedRangeSet":
            rng = obj([("low", marker(legacy)), ("high", marker(legacy))])
            obj([("type", arrow_type), ("ranges", list_of(rng)), ("nullAllowed", boolean)], typed=kind)(v, path)
        elif kind == "EquatableValueSet":
            obj([("valueBlock", block(legacy)), ("whiteList", boolean), ("nullAllowed", boolean)],
                typed=kind)(v, path)
        elif kind == "AllOrNoneValueSet":
            obj([("type", arrow_type), ("all", boolean), ("nullAllowed", boolean)], typed=kind)(v, path)
        else:
            _fail(path, f"unknown value set {kind!r}")
    return inner


def expression(legacy: bool | None) -> Check:
    def inner(v: Any, path: str) -> None:
        kind = v.get("@type") if isinstance(v, dict) else None
        if kind == "FunctionCallExpression":
            obj([("type", arrow_type), ("functionName", obj([("functionName", string)])),
                 ("arguments", list_of(expression(legacy)))], typed=kind)(v, path)
        elif kind == "VariableExpression":
            obj([("columnName", string), ("type", arrow_type)], typed=kind)(v, path)
        elif kind == "ConstantExpression":
            obj([("valueBlock", block(legacy)), ("type", arrow_type)], typed=kind)(v, path)
        else:
            _fail(path, f"unknown expression {kind!r}")
    return inner


def constraints(version: int) -> Check:
    legacy = version == 2
    fields: list[tuple[str, Check]] = [("summary", _summary(legacy))]
    if version >= 4:
        order = obj([("columnName", string), ("direction", one_of(
            "ASC_NULLS_FIRST", "ASC_NULLS_LAST", "DESC_NULLS_FIRST", "DESC_NULLS_LAST"))])
        fields += [("expression", list_of(expression(legacy))), ("orderByClause", list_of(order)),
                   ("limit", integer)]
    if version >= 5:
        fields.append(("queryPassthroughArguments", string_map))
    if version >= 6:
        fields.append(("queryPlan", nullable(obj([("substraitVersion", string), ("substraitPlan", string)]))))
    return obj(fields)


def _summary(legacy: bool | None) -> Check:
    def inner(v: Any, path: str) -> None:
        if not isinstance(v, dict):
            _fail(path, "expected an object column → value set")
        for col, vs in v.items():
            value_set(legacy)(vs, f"{path}.{col}")
    return inner


def _capabilities(v: Any, path: str) -> None:
    if not isinstance(v, dict):
        _fail(path, "expected an object")
    for k, entries in v.items():
        list_of(obj([("subType", string), ("properties", list_of(string))]))(entries, f"{path}.{k}")


def response_checks(version: int = 6) -> dict[str, Check]:
    """Checks of every response type for serde `version` (2..6)."""
    legacy = version == 2
    return {
        "PingResponse": obj([("catalogName", string), ("queryId", string), ("sourceType", string),
                             ("capabilities", integer), ("serDeVersion", integer)], typed="PingResponse"),
        "ListSchemasResponse": obj([("catalogName", string), ("schemas", list_of(string))],
                                   typed="ListSchemasResponse"),
        "ListTablesResponse": obj([("tables", list_of(table_name)), ("catalogName", string),
                                   ("nextToken", nullable(string))], typed="ListTablesResponse"),
        "GetTableResponse": obj([("catalogName", string), ("tableName", table_name),
                                 ("schema", arrow_schema(legacy)), ("partitionColumns", list_of(string))],
                                typed="GetTableResponse"),
        "GetTableLayoutResponse": obj([("catalogName", string), ("tableName", table_name),
                                       ("partitions", block(legacy))], typed="GetTableLayoutResponse"),
        "GetSplitsResponse": obj([("catalogName", string), ("splits", list_of(split)),
                                  ("continuationToken", nullable(string))], typed="GetSplitsResponse"),
        "ReadRecordsResponse": obj([("catalogName", string), ("records", block(legacy))],
                                   typed="ReadRecordsResponse"),
        "RemoteReadRecordsResponse": obj([("catalogName", string), ("schema", arrow_schema(legacy)),
                                          ("remoteBlocks", list_of(spill_location)),
                                          ("encryptionKey", encryption_key)], typed="RemoteReadRecordsResponse"),
        "GetDataSourceCapabilitiesResponse": obj([("catalogName", string), ("capabilities", _capabilities)],
                                                 typed="GetDataSourceCapabilitiesResponse"),
        "UserDefinedFunctionResponse": obj([("records", block(legacy)), ("methodName", string)],
                                           typed="UserDefinedFunctionResponse"),
    }


def request_checks(version: int = 6) -> dict[str, Check]:
    """Checks of every request type as Athena sends it in serde `version`."""
    legacy = version == 2
    env = [("identity", identity), ("queryId", string), ("catalogName", string)]
    cons = constraints(version)
    get_table = env + [("tableName", table_name)]
    if version >= 5:
        get_table.append(("queryPassthroughArguments", string_map))
    return {
        "PingRequest": obj([("identity", identity), ("catalogName", string), ("queryId", string)],
                           typed="PingRequest", extras_ok=True),
        "ListSchemasRequest": obj(env, typed="ListSchemasRequest"),
        "ListTablesRequest": obj(env + [("schemaName", nullable(string)), ("nextToken", nullable(string)),
                                        ("pageSize", integer)], typed="ListTablesRequest"),
        "GetTableRequest": obj(get_table, typed="GetTableRequest"),
        "GetTableLayoutRequest": obj(env + [("tableName", table_name), ("constraints", cons),
                                            ("schema", arrow_schema(legacy)),
                                            ("partitionColumns", list_of(string))], typed="GetTableLayoutRequest"),
        "GetSplitsRequest": obj(env + [("tableName", table_name), ("partitions", block(legacy)),
                                       ("partitionColumns", list_of(string)), ("constraints", cons),
                                       ("continuationToken", nullable(string))], typed="GetSplitsRequest"),
        "ReadRecordsRequest": obj(env + [("tableName", table_name), ("schema", arrow_schema(legacy)),
                                         ("split", split), ("constraints", cons), ("maxBlockSize", int_string),
                                         ("maxInlineBlockSize", int_string)], typed="ReadRecordsRequest"),
        "GetDataSourceCapabilitiesRequest": obj(env, typed="GetDataSourceCapabilitiesRequest"),
        "UserDefinedFunctionRequest": obj([("identity", identity), ("inputRecords", block(legacy)),
                                           ("outputSchema", arrow_schema(legacy)), ("methodName", string),
                                           ("functionType", one_of("SCALAR"))], typed="UserDefinedFunctionRequest"),
    }


def check_message(message: Any, version: int = 6) -> None:
    """Check a request or response strictly for serde `version`; raises StrictnessError."""
    if not isinstance(message, dict) or not isinstance(message.get("@type"), str):
        raise StrictnessError("$: a message must be an object whose first key is '@type'")
    if next(iter(message)) != "@type":
        raise StrictnessError("$: '@type' must be the first key")
    kind = message["@type"]
    checks = {**response_checks(version), **request_checks(version)}
    if kind not in checks:
        raise StrictnessError(f"$: unknown message type {kind!r}")
    checks[kind](message, "$")
