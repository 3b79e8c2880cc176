"""The 42-expression filter corpus: accepted expressions become the right IR and select exactly the
rows a brute-force evaluation of the parse tree selects; rejected ones are InvalidArgument."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal

import pytest

from appflow_connector.filters import FilterError, FilterField, parse_filter, parse_tree
from conformance.cases import APPFLOW_FIXTURES
from saasbridge.catalog.model import FieldType
from saasbridge.query import ir

CORPUS = APPFLOW_FIXTURES / "filter-expressions.json"
CASES = json.loads(CORPUS.read_text())["cases"]
ALL_OPS = frozenset(
    [
        "EQUAL_TO",
        "NOT_EQUAL_TO",
        "LESS_THAN",
        "LESS_THAN_OR_EQUAL_TO",
        "GREATER_THAN",
        "GREATER_THAN_OR_EQUAL_TO",
        "BETWEEN",
        "CONTAINS",
    ]
)
# Every identifier the corpus uses, typed as its expressions imply.
KINDS = {
    "price": "double", "accountName": "string", "updatedAt": "timestamp", "createdDate": "date",
    "dateRange": "timestamp", "priority": "int64", "score": "double", "status": "string",
    "isEscalated": "boolean", "assignee": "string", "subject": "string", "a": "int64", "b": "int64",
    "c": "int64", "x": "int64", "y": "int64", "Custom__c": "string", "a.b-c": "int64",
}  # fmt: skip
FIELDS = {n: FilterField(n, n, FieldType(k), ALL_OPS) for n, k in KINDS.items()}
# Only the SDK's silent lexer-error recovery makes `_x = 1` "parse" (as `x = 1`, a different field);
# the connector refuses to filter on a field the user did not write.
STRICTER_THAN_SDK = {"_x = 1"}


def _ids(case):
    return case["expression"]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_corpus_outcome(case):
    expr = case["expression"]
    if case["result"] != "parses" or expr in STRICTER_THAN_SDK:
        with pytest.raises(FilterError):
            parse_filter(expr, FIELDS)
        return
    parsed = parse_filter(expr, FIELDS)
    assert parsed.where is not None or parsed.limit is not None
    root = case["rootContext"]
    if root == "LimitExpression":
        assert parsed.limit == int(expr.split()[-1])
    else:
        assert parsed.limit is None
        expected_type = {
            "ANDBinaryExpression": ir.And, "ORBinaryExpression": ir.Or, "NotExpression": ir.Not,
            "BetweenExpression": ir.Between, "InExpression": ir.InList, "LikeComparatorExpression": ir.Contains,
            "BooleanEqualToComparatorExpression": ir.Compare, "BooleanNotEqualToComparatorExpression": ir.Compare,
            "GreaterThanComparatorExpression": ir.Compare, "EqualToComparatorExpression": ir.Compare,
        }[root]  # fmt: skip
        if expr == "assignee = null":
            expected_type = ir.IsNull
        assert isinstance(parsed.where, expected_type)
        assert ir.columns_of(parsed.where) <= set(FIELDS)


def test_between_is_inclusive_and_typed():
    parsed = parse_filter("updatedAt between 2024-05-01T00:00:00.000Z and 2024-05-01T01:00:00.000Z", FIELDS)
    assert parsed.where == ir.Between(
        "updatedAt",
        dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        dt.datetime(2024, 5, 1, 1, tzinfo=dt.UTC),
    )
    epoch = parse_filter("dateRange BETWEEN 1611639470000 AND 1611639476298", FIELDS).where
    assert epoch.low == dt.datetime.fromtimestamp(1611639470, dt.UTC)
    assert epoch.high == dt.datetime.fromtimestamp(1611639476.298, dt.UTC)


def test_precedence_and_parentheses():
    assert parse_filter("a = 1 or b = 2 and c = 3", FIELDS).where == ir.Or(
        (ir.Compare("a", "eq", 1), ir.And((ir.Compare("b", "eq", 2), ir.Compare("c", "eq", 3))))
    )
    assert parse_filter("(a = 1 or b = 2) and c = 3", FIELDS).where == ir.And(
        (ir.Or((ir.Compare("a", "eq", 1), ir.Compare("b", "eq", 2))), ir.Compare("c", "eq", 3))
    )


@pytest.mark.parametrize(
    "expr",
    [
        "unknownField = 1",  # not in the entity
        "priority contains 'x'",  # contains on a number
        "isEscalated = 'maybe'",  # not a boolean
        "priority = 1.5",  # not an integer
        "createdDate = 2024-05-01T10:00:00Z",  # a datetime that is not a date
        "priority > null",  # always unknown
        "score",  # bare non-boolean identifier
        "'hello'",  # bare value
    ],
)
def test_unenforceable_filters_are_rejected(expr):
    with pytest.raises(FilterError):
        parse_filter(expr, FIELDS)


def test_operator_must_be_advertised():
    fields = {"status": FilterField("status", "status", FieldType("string"), frozenset({"EQUAL_TO"}))}
    assert parse_filter("status = 'open'", fields).where == ir.Compare("status", "eq", "open")
    with pytest.raises(FilterError, match="not supported"):
        parse_filter("status contains 'op'", fields)


# -- brute force: evaluate the SDK parse tree directly on Python rows ------------------------------


def _rows(n=300, seed=7):
    rnd = random.Random(seed)
    base = dt.datetime(2024, 4, 30, 22, tzinfo=dt.UTC)

    def maybe(v):
        return None if rnd.random() < 0.1 else v

    rows = []
    for _ in range(n):
        rows.append(
            {
                "price": maybe(rnd.choice([50.0, 99.5, 100.0, 100.5, 250.0])),
                "accountName": maybe(rnd.choice(["Alexa Inc", "Bob", "alexa", "XAlexaY", ""])),
                "updatedAt": maybe(base + dt.timedelta(minutes=rnd.randrange(0, 240))),
                "createdDate": maybe(dt.date(2024, 3, 28) + dt.timedelta(days=rnd.randrange(0, 40))),
                "dateRange": maybe(dt.datetime.fromtimestamp(1611639470 + rnd.randrange(-3, 9), dt.UTC)),
                "priority": maybe(rnd.randrange(0, 12)),
                "score": maybe(rnd.choice([-5.5, 0.0, 5.5])),
                "status": maybe(rnd.choice(["open", "pending", "closed"])),
                "isEscalated": maybe(rnd.random() < 0.5),
                "assignee": maybe(rnd.choice(["ann", "bo"])),
                "subject": maybe(rnd.choice(["", "it's", "VPN down", "x"])),
                "a": maybe(rnd.randrange(0, 3)),
                "b": maybe(rnd.randrange(0, 3)),
                "c": maybe(rnd.randrange(0, 4)),
                "x": maybe(rnd.randrange(0, 3)),
                "y": maybe(rnd.randrange(0, 3)),
                "Custom__c": maybe(rnd.choice(["x", "y"])),
                "a.b-c": maybe(rnd.randrange(0, 3)),
            }
        )
    return rows


def _literal(ctx, kind):
    from custom_connector_queryfilter.queryfilter.antlr.CustomConnectorQueryFilterParser import (
        CustomConnectorQueryFilterParser as P,
    )

    text = ctx.getText()
    if isinstance(ctx, P.StringValueExpressionContext):
        if text == "null":
            return None
        return bytes(text[1:-1], "utf-8").decode("unicode_escape")
    if kind == "timestamp":
        if isinstance(ctx, P.DecimalValueExpressionContext):
            return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC)
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if kind == "date":
        return dt.date.fromisoformat(text)
    return Decimal(text)


def _brute(ctx, row):
    """Three-valued evaluation of a parse-tree node against one row (None = unknown)."""
    from custom_connector_queryfilter.queryfilter.antlr.CustomConnectorQueryFilterParser import (
        CustomConnectorQueryFilterParser as P,
    )

    if isinstance(ctx, P.ParenExpressionContext):
        return _brute(ctx.expression(), row)
    if isinstance(ctx, P.NotExpressionContext):
        v = _brute(ctx.expression(), row)
        return None if v is None else not v
    if isinstance(ctx, (P.ANDBinaryExpressionContext, P.ORBinaryExpressionContext)):
        left, right = _brute(ctx.left, row), _brute(ctx.right, row)
        if isinstance(ctx, P.ANDBinaryExpressionContext):
            if left is False or right is False:
                return False
            return None if None in (left, right) else True
        if left is True or right is True:
            return True
        return None if None in (left, right) else False
    name = ctx.identifier().getText() if hasattr(ctx, "identifier") else None
    kind = KINDS.get(name)
    value = row.get(name)
    if isinstance(
        ctx, (P.BooleanEqualToComparatorExpressionContext, P.BooleanNotEqualToComparatorExpressionContext)
    ):
        want = ctx.right.getText().lower() == "true"
        if value is None:
            return None
        return (value == want) == isinstance(ctx, P.BooleanEqualToComparatorExpressionContext)
    if isinstance(ctx, P.BetweenExpressionContext):
        lo, hi = _literal(ctx.l1, kind), _literal(ctx.right, kind)
        return None if value is None else lo <= value <= hi
    if isinstance(ctx, P.InExpressionContext):
        return None if value is None else any(value == _literal(v, kind) for v in ctx.value())
    if isinstance(ctx, P.LikeComparatorExpressionContext):
        return None if value is None else _literal(ctx.right, kind) in value
    lit = _literal(ctx.right, kind)
    op = type(ctx).__name__
    if lit is None:  # = null / != null
        return (value is None) == op.startswith("EqualTo")
    if value is None:
        return None
    if isinstance(lit, Decimal):
        value = Decimal(str(value))
    return {
        "GreaterThanComparatorExpressionContext": value > lit,
        "GreaterThanEqualToComparatorExpressionContext": value >= lit,
        "LesserThanComparatorExpressionContext": value < lit,
        "LesserThanEqualToComparatorExpressionContext": value <= lit,
        "EqualToComparatorExpressionContext": value == lit,
        "NotEqualToComparatorExpressionContext": value != lit,
    }[op]


ACCEPTED = [
    c["expression"] for c in CASES if c["result"] == "parses" and c["expression"] not in STRICTER_THAN_SDK
]


@pytest.mark.parametrize("expr", ACCEPTED)
def test_translated_filter_selects_exactly_the_brute_force_rows(expr):
    residual = pytest.importorskip("saasbridge.query.residual")
    pa = pytest.importorskip("pyarrow")
    from saasbridge.arrow.schema import arrow_type

    rows = _rows()
    schema = pa.schema([(n, arrow_type(FieldType(k))) for n, k in KINDS.items()])
    table = pa.Table.from_pylist(rows, schema=schema)
    parsed = parse_filter(expr, FIELDS)
    tree = parse_tree(expr)
    body = tree.limitexpression().expression() if tree.limitexpression() is not None else tree.expression()
    expected = [i for i, row in enumerate(rows) if body is None or _brute(body, row) is True]
    if parsed.where is None:
        got = list(range(len(rows)))
    else:
        mask = residual.evaluate(parsed.where, table)
        got = [i for i, keep in enumerate(mask.to_pylist()) if keep]
    assert got == expected
