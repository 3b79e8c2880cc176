"""AppFlow's filter-expression DSL → the query IR.

Parsing uses the SDK's generated ANTLR grammar (custom_connector_queryfilter, ANTLR 4.9.3). The
SDK's own `parse()` only collects *parser* errors and silently drops characters the lexer cannot
read (`_x = 1` becomes `x = 1`), which would filter on a different field than the user wrote; so
this module drives the generated lexer and parser itself and rejects lexer errors too.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from custom_connector_queryfilter.queryfilter.antlr.CustomConnectorQueryFilterLexer import (
    CustomConnectorQueryFilterLexer as _Lexer,
)
from custom_connector_queryfilter.queryfilter.antlr.CustomConnectorQueryFilterParser import (
    CustomConnectorQueryFilterParser as _Parser,
)

from saasbridge.catalog.model import FieldType
from saasbridge.errors import QueryError
from saasbridge.query.ir import (
    And,
    Between,
    Compare,
    Contains,
    Expr,
    InList,
    IsNull,
    Not,
    Or,
)


class FilterError(QueryError):
    """A filter expression that is malformed or asks for something the entity cannot enforce."""


@dataclass(frozen=True)
class FilterField:
    """What the translator needs to know about one field: its column, type and allowed operators."""

    name: str  # the AppFlow fieldName used in expressions
    column: str  # the IR column
    type: FieldType
    operators: frozenset[str]  # ConnectorOperator names (EQUAL_TO, BETWEEN, ...)


@dataclass(frozen=True)
class ParsedFilter:
    where: Expr | None
    limit: int | None


class _CollectErrors(ErrorListener):
    def __init__(self) -> None:
        self.errors: list[str] = []

    def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):  # noqa: N802 (ANTLR API)
        self.errors.append(f"column {column + 1}: {msg}")


def parse_tree(expression: str):
    """Parse with the SDK grammar; raise FilterError on any lexer or parser error."""
    errors = _CollectErrors()
    lexer = _Lexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(errors)
    parser = _Parser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(errors)
    tree = parser.queryfilter()
    if errors.errors:
        raise FilterError(f"invalid filter expression {_short(expression)}: {errors.errors[0]}; write it in AppFlow's "
                          "filter language, e.g. country = 'DE' and employees > 50 (text in single quotes)")
    return tree


def parse_filter(expression: str | None, fields: Mapping[str, FilterField]) -> ParsedFilter:
    """Translate `expression` into an IR filter and a row limit; FilterError when it cannot be enforced."""
    if expression is None or not expression.strip():
        return ParsedFilter(None, None)
    tree = parse_tree(expression)
    return _Translator(fields).queryfilter(tree)


def _short(text: str, limit: int = 120) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


_COMPARE_OPS = {
    _Parser.GreaterThanComparatorExpressionContext: ("gt", "GREATER_THAN"),
    _Parser.GreaterThanEqualToComparatorExpressionContext: ("ge", "GREATER_THAN_OR_EQUAL_TO"),
    _Parser.LesserThanComparatorExpressionContext: ("lt", "LESS_THAN"),
    _Parser.LesserThanEqualToComparatorExpressionContext: ("le", "LESS_THAN_OR_EQUAL_TO"),
    _Parser.EqualToComparatorExpressionContext: ("eq", "EQUAL_TO"),
    _Parser.NotEqualToComparatorExpressionContext: ("ne", "NOT_EQUAL_TO"),
}
_NULL = object()  # the `null` literal
_STRING_ESCAPES = {'"': '"', "\\": "\\", "'": "'", "t": "\t", "n": "\n", "r": "\r"}


class _Translator:
    def __init__(self, fields: Mapping[str, FilterField]):
        self.fields = fields

    def queryfilter(self, ctx) -> ParsedFilter:
        if ctx.limitexpression() is not None:
            lim = ctx.limitexpression()
            count = int(lim.count().getText())
            inner = lim.expression()
            return ParsedFilter(self.expr(inner) if inner is not None else None, count)
        return ParsedFilter(self.expr(ctx.expression()), None)

    # -- expressions -------------------------------------------------------------------------
    def expr(self, ctx) -> Expr:
        P = _Parser
        if isinstance(ctx, P.ParenExpressionContext):
            return self.expr(ctx.expression())
        if isinstance(ctx, P.NotExpressionContext):
            return Not(self.expr(ctx.expression()))
        if isinstance(ctx, P.ANDBinaryExpressionContext):
            return And((self.expr(ctx.left), self.expr(ctx.right)))
        if isinstance(ctx, P.ORBinaryExpressionContext):
            return Or((self.expr(ctx.left), self.expr(ctx.right)))
        if type(ctx) in _COMPARE_OPS:
            op, operator = _COMPARE_OPS[type(ctx)]
            field = self.field(ctx.left, operator)
            value = self.value(field, ctx.right)
            if value is _NULL:
                if op not in ("eq", "ne"):
                    raise FilterError(f"{field.name} {op} null is always unknown; use = null or != null")
                return IsNull(field.column, negate=(op == "ne"))
            return Compare(field.column, op, value)
        if isinstance(
            ctx, (P.BooleanEqualToComparatorExpressionContext, P.BooleanNotEqualToComparatorExpressionContext)
        ):
            eq = isinstance(ctx, P.BooleanEqualToComparatorExpressionContext)
            field = self.field(ctx.left, "EQUAL_TO" if eq else "NOT_EQUAL_TO")
            if field.type.kind != "boolean":
                raise FilterError(
                    f"{field.name} is {field.type.kind}, not boolean: compare it with a {field.type.kind} value"
                )
            return Compare(field.column, "eq" if eq else "ne", ctx.right.getText().lower() == "true")
        if isinstance(ctx, P.LikeComparatorExpressionContext):
            field = self.field(ctx.left, "CONTAINS")
            if field.type.kind != "string":
                raise FilterError(f"contains needs a string field; {field.name} is {field.type.kind}")
            value = self.value(field, ctx.right)
            if value is _NULL:
                raise FilterError(f"{field.name} contains null is always unknown")
            return Contains(field.column, value)
        if isinstance(ctx, P.BetweenExpressionContext):
            field = self.field(ctx.left, "BETWEEN")
            low, high = self.value(field, ctx.l1), self.value(field, ctx.right)
            if low is _NULL or high is _NULL:
                raise FilterError(f"between bounds of {field.name} cannot be null")
            return Between(field.column, low, high)
        if isinstance(ctx, P.InExpressionContext):
            field = self.field(ctx.identifier(), "EQUAL_TO")
            values = [self.value(field, v) for v in ctx.value()]
            if any(v is _NULL for v in values):
                raise FilterError(
                    f"null in the IN list of {field.name} never matches; use {field.name} = null"
                )
            return InList(field.column, tuple(dict.fromkeys(values)))
        if isinstance(ctx, P.IdentifierExpressionContext):
            field = self.field(ctx.identifier(), "EQUAL_TO")
            if field.type.kind != "boolean":
                raise FilterError(
                    f"a bare field name must be a boolean field; {field.name} is {field.type.kind}"
                )
            return Compare(field.column, "eq", True)
        if isinstance(ctx, P.ValueExpressionContext):
            raise FilterError(f"a bare value ({ctx.getText()}) is not a filter: compare a field with it")
        raise FilterError(f"unsupported filter construct: {_short(ctx.getText())}")

    def field(self, ident_ctx, operator: str) -> FilterField:
        name = ident_ctx.getText()
        field = self.fields.get(name)
        if field is None:
            close = difflib.get_close_matches(name, list(self.fields), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"fields: {', '.join(sorted(self.fields)) or '(none)'}"
            raise FilterError(f"Filter attribute not found in entity definition: {name}; {hint}")
        if operator not in field.operators:
            allowed = ", ".join(sorted(field.operators)) or "none"
            raise FilterError(f"operator {operator} is not supported on {name} (supported: {allowed})")
        return field

    # -- values ------------------------------------------------------------------------------
    def value(self, field: FilterField, ctx) -> Any:
        P = _Parser
        text = ctx.getText()
        if isinstance(ctx, P.StringValueExpressionContext):
            if text == "null":
                return _NULL
            return _coerce(field, _unquote(text), "string")
        if isinstance(ctx, P.DecimalValueExpressionContext):
            return _coerce(field, text, "number")
        if isinstance(ctx, P.IsoDateContext):
            return _coerce(field, text, "date")
        if isinstance(ctx, P.IsoDateTimeContext):
            return _coerce(field, text, "datetime")
        raise FilterError(f"unsupported value {text!r}")


def _unquote(token: str) -> str:
    body = token[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[body[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def parse_datetime(text: str) -> dt.datetime:
    """`2024-05-01T00:00:00.123Z` (any number of fraction digits) → aware UTC datetime."""
    body = text[:-1] if text.endswith("Z") else text
    if "." in body:
        head, frac = body.split(".", 1)
        body = f"{head}.{(frac + '000000')[:6]}"
    parsed = dt.datetime.fromisoformat(body)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _coerce(field: FilterField, text: str, literal: str) -> Any:
    """The literal as a Python value of the field's type (the IR's typing rule)."""
    kind = field.type.kind
    bad = FilterError(f"{field.name} is {kind}; {text!r} is not a {kind} value")
    try:
        if kind == "string":
            return text
        if kind in ("int32", "int64"):
            if literal not in ("number", "string"):
                raise bad
            number = Decimal(text)
            if number != number.to_integral_value():
                raise bad
            return int(number)
        if kind == "double":
            if literal not in ("number", "string"):
                raise bad
            return float(Decimal(text))
        if kind == "decimal":
            if literal not in ("number", "string"):
                raise bad
            return Decimal(text)
        if kind == "boolean":
            if literal == "string" and text.lower() in ("true", "false"):
                return text.lower() == "true"
            raise bad
        if kind == "date":
            if literal in ("date", "string"):
                return dt.date.fromisoformat(text)
            if literal == "datetime":
                moment = parse_datetime(text)
                if moment.time() != dt.time(0):
                    raise bad
                return moment.date()
            raise bad
        if kind == "timestamp":
            if literal in ("datetime", "string"):
                return parse_datetime(text)
            if literal == "date":
                return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0), dt.UTC)
            if literal == "number" and "." not in text:
                # AppFlow's Java corpus sends epoch milliseconds as plain numbers.
                return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=int(text))
            raise bad
    except (ValueError, InvalidOperation, OverflowError):
        raise bad from None
    raise FilterError(f"{field.name} ({kind}) cannot be filtered")
