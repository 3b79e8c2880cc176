"""Federation expressions (`constraints.expression`, v4+): model, JSON serde, and IR for the
functions the connector advertises (boolean connectives, comparisons of a column with a
constant, IS NULL). Anything else raises UnsupportedPredicateError rather than being ignored,
because Athena may not re-check what it pushed down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from athena_connector.errors import ProtocolError, UnsupportedPredicateError
from athena_connector.protocol import ipc
from athena_connector.protocol.arrow_types import arrow_type_from_json, arrow_type_to_json
from athena_connector.protocol.values import array_to_python, value_batch
from saasbridge.query.ir import And, Compare, Expr, IsNull, Not, Or


@dataclass(frozen=True)
class FunctionCall:
    type: pa.DataType
    name: str
    arguments: tuple[Expression, ...]


@dataclass(frozen=True)
class Variable:
    column: str
    type: pa.DataType


@dataclass(frozen=True)
class Constant:
    values: tuple[Any, ...]
    type: pa.DataType


Expression = FunctionCall | Variable | Constant

_COMPARISONS = {
    "$equal": "eq",
    "$not_equal": "ne",
    "$less_than": "lt",
    "$less_than_or_equal": "le",
    "$greater_than": "gt",
    "$greater_than_or_equal": "ge",
}
_FLIPPED = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
# What GetDataSourceCapabilities advertises: exactly the functions expression_to_ir handles.
SUPPORTED_FUNCTIONS: tuple[str, ...] = ("$and", "$or", "$not", "$is_null", *_COMPARISONS)


def expression_to_json(e: Expression, *, legacy: bool = False, allocator_id: str = "saasbridge") -> dict[str, Any]:
    if isinstance(e, FunctionCall):
        return {
            "@type": "FunctionCallExpression",
            "type": arrow_type_to_json(e.type),
            "functionName": {"functionName": e.name},
            "arguments": [expression_to_json(a, legacy=legacy, allocator_id=allocator_id) for a in e.arguments],
        }
    if isinstance(e, Variable):
        return {"@type": "VariableExpression", "columnName": e.column, "type": arrow_type_to_json(e.type)}
    if isinstance(e, Constant):
        return {
            "@type": "ConstantExpression",
            "valueBlock": ipc.encode_block(value_batch(e.values, e.type), legacy=legacy, allocator_id=allocator_id),
            "type": arrow_type_to_json(e.type),
        }
    raise TypeError(f"not an expression: {e!r}")


def expression_from_json(obj: Any) -> Expression:
    if not isinstance(obj, dict):
        raise ProtocolError("an expression must be an object")
    kind = obj.get("@type")
    if kind == "FunctionCallExpression":
        name = obj.get("functionName")
        name = name.get("functionName") if isinstance(name, dict) else name
        args = obj.get("arguments")
        if not isinstance(name, str) or not isinstance(args, list):
            raise ProtocolError("FunctionCallExpression needs functionName and arguments")
        return FunctionCall(arrow_type_from_json(obj.get("type")), name, tuple(expression_from_json(a) for a in args))
    if kind == "VariableExpression":
        column = obj.get("columnName")
        if not isinstance(column, str):
            raise ProtocolError("VariableExpression needs a columnName")
        return Variable(column, arrow_type_from_json(obj.get("type")))
    if kind == "ConstantExpression":
        batch = ipc.decode_block(obj.get("valueBlock"))
        if batch.num_columns != 1:
            raise ProtocolError("ConstantExpression value block must have one column")
        return Constant(tuple(array_to_python(batch.column(0))), arrow_type_from_json(obj.get("type")))
    raise ProtocolError(f"unknown expression type {kind!r}")


def _unsupported(e: Expression) -> UnsupportedPredicateError:
    name = e.name if isinstance(e, FunctionCall) else type(e).__name__
    return UnsupportedPredicateError(
        f"pushed-down expression {name} cannot be enforced by this connector; "
        f"supported: {', '.join(SUPPORTED_FUNCTIONS)} on a column and a constant"
    )


def _scalar(c: Constant, e: Expression) -> Any:
    if len(c.values) != 1 or c.values[0] is None:
        raise _unsupported(e)
    return c.values[0]


def expression_to_ir(e: Expression) -> Expr:
    """The IR of an expression tree; raises UnsupportedPredicateError for what is not supported."""
    if not isinstance(e, FunctionCall):
        raise _unsupported(e)
    args = e.arguments
    if e.name in ("$and", "$or") and args:
        items = tuple(expression_to_ir(a) for a in args)
        return And(items) if e.name == "$and" else Or(items)
    if e.name == "$not" and len(args) == 1:
        return Not(expression_to_ir(args[0]))
    if e.name == "$is_null" and len(args) == 1 and isinstance(args[0], Variable):
        return IsNull(args[0].column)
    if e.name in _COMPARISONS and len(args) == 2:
        op = _COMPARISONS[e.name]
        left, right = args
        if isinstance(left, Variable) and isinstance(right, Constant):
            return Compare(left.column, op, _scalar(right, e))  # type: ignore[arg-type]
        if isinstance(left, Constant) and isinstance(right, Variable):
            return Compare(right.column, _FLIPPED[op], _scalar(left, e))  # type: ignore[arg-type]
    raise _unsupported(e)
