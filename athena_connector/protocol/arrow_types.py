"""ArrowType JSON (`{"@type": "Int", "bitWidth": 32, "isSigned": true}`) ↔ pyarrow types.

Used inside value sets and expressions. Nested types (Struct, List, Map) carry no children in
this JSON; parsing them yields a placeholder of the right kind with null children.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from athena_connector.errors import ProtocolError

_FLOAT = {"HALF": pa.float16(), "SINGLE": pa.float32(), "DOUBLE": pa.float64()}
_UNITS = {"SECOND": "s", "MILLISECOND": "ms", "MICROSECOND": "us", "NANOSECOND": "ns"}
_UNIT_NAMES = {v: k for k, v in _UNITS.items()}


def arrow_type_to_json(t: pa.DataType) -> dict[str, Any]:
    """A pyarrow type → ArrowType JSON in the SDK's field order."""
    if pa.types.is_integer(t):
        return {"@type": "Int", "bitWidth": t.bit_width, "isSigned": pa.types.is_signed_integer(t)}
    if pa.types.is_floating(t):
        name = {16: "HALF", 32: "SINGLE", 64: "DOUBLE"}[t.bit_width]
        return {"@type": "FloatingPoint", "precision": name}
    if pa.types.is_string(t):
        return {"@type": "Utf8"}
    if pa.types.is_binary(t):
        return {"@type": "Binary"}
    if pa.types.is_boolean(t):
        return {"@type": "Bool"}
    if pa.types.is_null(t):
        return {"@type": "Null"}
    if pa.types.is_decimal128(t):
        return {"@type": "Decimal", "precision": t.precision, "scale": t.scale}
    if pa.types.is_date32(t):
        return {"@type": "Date", "unit": "DAY"}
    if pa.types.is_date64(t):
        return {"@type": "Date", "unit": "MILLISECOND"}
    if pa.types.is_timestamp(t):
        return {"@type": "Timestamp", "unit": _UNIT_NAMES[t.unit], "timezone": t.tz}
    if pa.types.is_time(t):
        return {"@type": "Time", "unit": _UNIT_NAMES[t.unit], "bitWidth": t.bit_width}
    if pa.types.is_fixed_size_binary(t):
        return {"@type": "FixedSizeBinary", "byteWidth": t.byte_width}
    if pa.types.is_struct(t):
        return {"@type": "Struct"}
    if pa.types.is_map(t):
        return {"@type": "Map"}
    if pa.types.is_list(t):
        return {"@type": "List"}
    raise ProtocolError(f"Arrow type {t} has no ArrowType JSON form in the federation protocol")


def arrow_type_from_json(obj: Any) -> pa.DataType:
    """ArrowType JSON → pyarrow type (lenient about field order)."""
    if not isinstance(obj, dict) or "@type" not in obj:
        raise ProtocolError(f"ArrowType must be an object with '@type', got {obj!r:.80}")
    kind = obj["@type"]
    try:
        if kind == "Int":
            bits, signed = int(obj["bitWidth"]), bool(obj["isSigned"])
            return {8: pa.int8, 16: pa.int16, 32: pa.int32, 64: pa.int64}[bits]() if signed else {
                8: pa.uint8, 16: pa.uint16, 32: pa.uint32, 64: pa.uint64}[bits]()
        if kind == "FloatingPoint":
            return _FLOAT[obj["precision"]]
        if kind == "Decimal":
            return pa.decimal128(int(obj["precision"]), int(obj["scale"]))
        if kind == "Date":
            return pa.date32() if obj["unit"] == "DAY" else pa.date64()
        if kind == "Timestamp":
            return pa.timestamp(_UNITS[obj["unit"]], tz=obj.get("timezone"))
        if kind == "Time":
            unit = _UNITS[obj["unit"]]
            return pa.time32(unit) if unit in ("s", "ms") else pa.time64(unit)
        if kind == "FixedSizeBinary":
            return pa.binary(int(obj["byteWidth"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise ProtocolError(f"ArrowType {kind} is missing or has a bad parameter: {exc}") from exc
    simple = {
        "Utf8": pa.string(),
        "Binary": pa.binary(),
        "Bool": pa.bool_(),
        "Null": pa.null(),
        "Struct": pa.struct([]),
        "List": pa.list_(pa.null()),
        "Map": pa.map_(pa.string(), pa.null()),
    }
    if kind in simple:
        return simple[kind]
    raise ProtocolError(f"unsupported ArrowType {kind!r}")
