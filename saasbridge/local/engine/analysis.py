"""Reading a SQL statement the way Athena's planner does: which tables it scans, which columns
of each it needs, which WHERE predicates become per-column domains, and whether a LIMIT or
ORDER BY … LIMIT can be handed to the connector without changing the result."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Collection
from dataclasses import dataclass, field

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokens import TokenType

from saasbridge.errors import QueryError
from saasbridge.local.engine.domains import ALL, Bound, Domain, Range, is_orderable, point

DIALECT = "athena"
VIEW_PREFIX = "__sb_t"
SHIELD_PREFIX = "__sb_fn_"


@dataclass
class TableRef:
    """One table reference in the statement (a self-join has two)."""

    index: int
    catalog: str | None
    schema: str | None
    table: str
    alias: str
    columns: set[str] = field(default_factory=set)
    domains: dict[str, Domain] = field(default_factory=dict)
    exact_filter: bool = True  # the WHERE clause is exactly the AND of `domains`
    limit: int | None = None
    order_by: tuple[tuple[str, bool, bool], ...] = ()  # (column, descending, nulls_first)

    @property
    def view(self) -> str:
        return f"{VIEW_PREFIX}{self.index}"


@dataclass
class Statement:
    tree: exp.Expression  # table references replaced by their views
    refs: list[TableRef]

    def duckdb_sql(self) -> str:
        return self.tree.sql(dialect="duckdb")


def parse(sql: str, functions: Collection[str] = ()) -> Statement:
    """Parse one SELECT statement and find its table references (CTE names excluded). `functions`
    (the statement's external functions) are plain calls whatever sqlglot knows by that name."""
    sql, renamed = _shield_functions(sql, {f.lower() for f in functions})
    try:
        trees = [t for t in sqlglot.parse(sql, read=DIALECT) if t is not None]
    except ParseError as exc:
        first = str(exc).splitlines()[0]
        raise QueryError(f"SQL syntax error: {first}") from exc
    if len(trees) != 1:
        raise QueryError("give exactly one SQL statement")
    tree = trees[0]
    if not isinstance(tree, exp.Query):
        raise QueryError(
            f"only SELECT queries, SHOW SCHEMAS, SHOW TABLES and DESCRIBE are supported, not {tree.key.upper()}"
        )
    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    refs: list[TableRef] = []
    for table in list(tree.find_all(exp.Table)):
        if not table.args.get("db") and table.name in cte_names:
            continue
        if not table.name:
            raise QueryError(f"unsupported table expression: {table.sql(dialect=DIALECT)}")
        ref = TableRef(
            index=len(refs),
            catalog=table.catalog or None,
            schema=table.db or None,
            table=table.name.lower(),
            alias=table.alias_or_name,
        )
        refs.append(ref)
        table.replace(exp.table_(ref.view, alias=exp.to_identifier(ref.alias, quoted=True)))
    for select in tree.find_all(exp.Select):  # a bare call keeps its name as written for a column name
        for item in select.expressions:
            if isinstance(item, exp.Anonymous) and item.name in renamed:
                written = item.copy()
                written.set("this", renamed[item.name])
                item.replace(exp.alias_(item.copy(), written.sql(dialect=DIALECT, normalize_functions=False), quoted=True))
    for dtype in tree.find_all(exp.DataType):
        # Athena's TIMESTAMP literal keeps its digits; a TIMESTAMP(0) cast in DuckDB would round them.
        if dtype.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ):
            dtype.set("expressions", [])
    return Statement(tree, refs)


def external_name(function: str) -> str:
    """The name an external function has in the SQL DuckDB runs: neither sqlglot (`PREDICT(…)`
    would parse as BigQuery ML's) nor DuckDB (`SUMMARIZE` is a statement) has a grammar for it."""
    return f"{SHIELD_PREFIX}{function.lower()}"


def _shield_functions(sql: str, names: set[str]) -> tuple[str, dict[str, str]]:
    """The SQL with each call of a function in `names` renamed by `external_name`, and the names
    as written by their stand-ins."""
    if not names:
        return sql, {}
    try:
        tokens = sqlglot.Dialect.get_or_raise(DIALECT).tokenize(sql)
    except sqlglot.errors.TokenError:
        return sql, {}  # the parser reports it
    renamed: dict[str, str] = {}
    for token, following in reversed(list(zip(tokens, tokens[1:], strict=False))):
        if token.text.lower() in names and following.token_type == TokenType.L_PAREN and token.token_type in (
                TokenType.VAR, *sqlglot.tokens.Tokenizer.KEYWORDS.values()):  # fmt: skip
            stand_in = external_name(token.text)
            renamed[stand_in] = token.text
            sql = sql[: token.start] + stand_in + sql[token.end + 1 :]
    return sql, renamed


def analyse(stmt: Statement, schemas: dict[int, pa.Schema]) -> None:
    """Fill in each reference's needed columns, domains and pushable limit/order.

    `schemas` maps a reference's index to its table's Arrow schema (from GetTable)."""
    mapping = {stmt.refs[i].view: {f.name: "VARCHAR" for f in s} for i, s in schemas.items()}
    try:
        qualified = qualify(stmt.tree.copy(), schema=mapping, dialect=DIALECT, validate_qualify_columns=True)
    except OptimizeError as exc:
        raise QueryError(f"{exc}; check the column names with DESCRIBE <schema>.<table>") from exc
    by_view = {r.view: r for r in stmt.refs}
    for scope in traverse_scope(qualified):
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table) and source.name in by_view:
                by_view[source.name].columns.add(column.name)
        _collect_domains(scope, by_view, schemas)
    _plan_limits(qualified, stmt.refs, by_view, schemas)


# ---------------------------------------------------------------- WHERE → domains


def _nullable_aliases(select: exp.Select) -> set[str]:
    """Aliases of tables on the null-supplying side of an outer join: filters on them change
    which rows get null-extended, so they are never pushed into their scan."""
    out: set[str] = set()
    seen: list[str] = []
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is not None:
        seen.append(from_.this.alias_or_name)
    for join in select.args.get("joins") or []:
        name = join.this.alias_or_name
        side = (join.side or "").upper()
        if side in ("LEFT", "FULL"):
            out.add(name)
        if side in ("RIGHT", "FULL"):
            out.update(seen)
        seen.append(name)
    return out


def _collect_domains(scope: Scope, by_view: dict[str, TableRef], schemas: dict[int, pa.Schema]) -> None:
    select = scope.expression
    if not isinstance(select, exp.Select):
        return
    local = {
        alias: by_view[src.name]
        for alias, src in scope.sources.items()
        if isinstance(src, exp.Table) and src.name in by_view
    }
    if not local:
        return
    nullable = _nullable_aliases(select)
    where = select.args.get("where")
    conjuncts = list(_flatten(where.this, exp.And)) if where is not None else []
    for alias, ref in local.items():
        if alias in nullable:
            ref.exact_filter = not conjuncts
            continue
        schema = schemas[ref.index]
        for term in conjuncts:
            tables = {c.table for c in term.find_all(exp.Column)}
            if tables != {alias}:
                ref.exact_filter = False
                continue
            found = to_domain(term, schema)
            if found is None:
                ref.exact_filter = False
                continue
            column, domain = found
            ref.domains[column] = ref.domains[column].intersect(domain) if column in ref.domains else domain


def _flatten(node: exp.Expression, kind: type) -> list[exp.Expression]:
    node = node.unnest()
    if isinstance(node, kind):
        return [*_flatten(node.left, kind), *_flatten(node.right, kind)]
    return [node]


_FLIP = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ, exp.NEQ: exp.NEQ}
_NEGATE = {
    exp.GT: exp.LTE,
    exp.GTE: exp.LT,
    exp.LT: exp.GTE,
    exp.LTE: exp.GT,
    exp.EQ: exp.NEQ,
    exp.NEQ: exp.EQ,
}


def to_domain(term: exp.Expression, schema: pa.Schema) -> tuple[str, Domain] | None:
    """`term` as (column, domain) when it is a simple predicate on one column, else None."""
    term = term.unnest()
    if isinstance(term, exp.Or):
        parts = [to_domain(p, schema) for p in _flatten(term, exp.Or)]
        if any(p is None for p in parts) or len({p[0] for p in parts}) != 1:  # type: ignore[index]
            return None
        column = parts[0][0]  # type: ignore[index]
        domain = parts[0][1]  # type: ignore[index]
        for p in parts[1:]:
            domain = domain.union(p[1])  # type: ignore[index]
        return column, domain
    negate = False
    if isinstance(term, exp.Not):
        negate, term = True, term.this.unnest()
    if isinstance(term, exp.Is) and isinstance(term.expression, exp.Null):
        column = _column(term.this, schema)
        if column is None:
            return None
        return column, (Domain((ALL,), False) if negate else Domain((), True))
    if isinstance(term, exp.In) and not term.args.get("query") and not term.args.get("unnest"):
        column = _column(term.this, schema)
        if column is None or not is_orderable(schema.field(column).type):
            return None
        values = [_value(v, schema.field(column).type) for v in term.expressions]
        if any(v is _NO for v in values):
            return None
        domain = Domain.of([point(v) for v in values])
        return column, (_complement(domain) if negate else domain)
    if isinstance(term, exp.Between) and not negate:
        column = _column(term.this, schema)
        if column is None or not is_orderable(schema.field(column).type):
            return None
        low, high = (_value(term.args[k], schema.field(column).type) for k in ("low", "high"))
        if low is _NO or high is _NO:
            return None
        return column, Domain.of([Range(Bound(low, True), Bound(high, True))])
    kind = type(term)
    if kind in _FLIP:
        if negate:
            kind = _NEGATE[kind]
        left, right = term.left.unnest(), term.right.unnest()
        if not isinstance(left, exp.Column):
            left, right, kind = right, left, _FLIP[kind]
        column = _column(left, schema)
        if column is None or not is_orderable(schema.field(column).type):
            return None
        value = _value(right, schema.field(column).type)
        if value is _NO:
            return None
        return column, _compare_domain(kind, value)
    return None


def _compare_domain(kind: type, v: object) -> Domain:
    if kind is exp.EQ:
        return Domain.of([point(v)])
    if kind is exp.NEQ:
        return Domain.of([Range(None, Bound(v, False)), Range(Bound(v, False), None)])
    if kind is exp.GT:
        return Domain.of([Range(Bound(v, False), None)])
    if kind is exp.GTE:
        return Domain.of([Range(Bound(v, True), None)])
    if kind is exp.LT:
        return Domain.of([Range(None, Bound(v, False))])
    return Domain.of([Range(None, Bound(v, True))])


def _complement(d: Domain) -> Domain:
    """NOT IN: every non-null value outside the points of `d`."""
    out: list[Range] = []
    low: Bound | None = None
    for r in d.ranges:
        assert r.low is not None and r.high is not None
        out.append(Range(low, Bound(r.low.value, not r.low.inclusive)))
        low = Bound(r.high.value, not r.high.inclusive)
    out.append(Range(low, None))
    return Domain.of(out)


def _column(node: exp.Expression, schema: pa.Schema) -> str | None:
    node = node.unnest()
    if isinstance(node, exp.Column) and node.name in schema.names:
        return node.name
    return None


_NO = object()  # a literal that cannot be represented exactly in the column's type


def _value(node: exp.Expression, t: pa.DataType) -> object:
    """The literal `node` as a value of Arrow type `t`, or _NO."""
    node = node.unnest()
    negative = False
    if isinstance(node, exp.Neg):
        negative, node = True, node.this.unnest()
    cast_to = None
    if isinstance(node, exp.Cast):
        cast_to, node = node.to.this, node.this.unnest()
    if isinstance(node, exp.Boolean):
        return node.this if pa.types.is_boolean(t) and cast_to is None else _NO
    if not isinstance(node, exp.Literal):
        return _NO
    text = str(node.this)
    try:
        if node.is_string:
            if negative:
                return _NO
            if pa.types.is_string(t) and cast_to in (None, exp.DataType.Type.VARCHAR):
                return text
            if pa.types.is_date32(t) and cast_to == exp.DataType.Type.DATE:
                return dt.date.fromisoformat(text)
            if (pa.types.is_date64(t) or pa.types.is_timestamp(t)) and cast_to in (
                exp.DataType.Type.TIMESTAMP,
                exp.DataType.Type.TIMESTAMPTZ,
            ):
                return _epoch_ms(text)
            return _NO
        if cast_to is not None:
            return _NO
        number = decimal.Decimal(text)
        if negative:
            number = -number
        if pa.types.is_integer(t):
            return int(number) if number == number.to_integral_value() else _NO
        if pa.types.is_floating(t):
            return float(number)
        if pa.types.is_decimal(t):
            exponent = number.as_tuple().exponent
            if isinstance(exponent, int) and -exponent > t.scale:
                return _NO
            return number.quantize(decimal.Decimal(1).scaleb(-t.scale))
    except (ValueError, decimal.InvalidOperation):
        return _NO
    return _NO


def _epoch_ms(text: str) -> int | object:
    stamp = dt.datetime.fromisoformat(text.strip().replace(" ", "T"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    if stamp.microsecond % 1000:
        return _NO  # finer than the column's milliseconds: leave it to the engine
    return int(stamp.timestamp() * 1000) if stamp.microsecond == 0 else round(stamp.timestamp() * 1000)


# ---------------------------------------------------------------- LIMIT / ORDER BY … LIMIT


def _plan_limits(
    qualified: exp.Expression,
    refs: list[TableRef],
    by_view: dict[str, TableRef],
    schemas: dict[int, pa.Schema],
) -> None:
    """A LIMIT can go to the connector only for `SELECT <columns> FROM one_table [WHERE fully
    expressed as domains] [ORDER BY columns] LIMIT n` with nothing that changes row counts."""
    if len(refs) != 1 or not isinstance(qualified, exp.Select):
        return
    sel = qualified
    limit = sel.args.get("limit")
    if limit is None or sel.args.get("offset") is not None or sel.args.get("joins"):
        return
    if any(sel.args.get(k) for k in ("group", "having", "distinct", "qualify", "with", "laterals")):
        return
    if sel.find(exp.AggFunc) or sel.find(exp.Window) or sel.find(exp.Subquery):
        return
    from_ = sel.args.get("from_") or sel.args.get("from")
    if from_ is None or not isinstance(from_.this, exp.Table) or from_.this.name not in by_view:
        return
    ref = by_view[from_.this.name]
    if not ref.exact_filter:
        return
    count = limit.expression
    if not (isinstance(count, exp.Literal) and not count.is_string and str(count.this).isdigit()):
        return
    order = sel.args.get("order")
    keys: list[tuple[str, bool, bool]] = []
    if order is not None:
        for o in order.expressions:
            col = o.this.unnest()
            if not isinstance(col, exp.Column) or col.name not in schemas[ref.index].names:
                return
            if not is_orderable(schemas[ref.index].field(col.name).type):
                return
            keys.append((col.name, bool(o.args.get("desc")), bool(o.args.get("nulls_first"))))
    ref.limit = int(count.this)
    ref.order_by = tuple(keys)
