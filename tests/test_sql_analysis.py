"""The engine's SQL analysis on its own: WHERE predicates → per-column domains (checked against
DuckDB evaluating the same predicate), needed columns, and when LIMIT may be pushed."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saasbridge.errors import QueryError
from saasbridge.local.engine import analysis
from saasbridge.local.engine.domains import value_set

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("n", pa.int64()),
        ("x", pa.float64()),
        ("name", pa.string()),
        ("tags", pa.list_(pa.string())),
    ]
)
VALUES = [None, *range(-3, 13)]


def _analyse(sql: str) -> analysis.Statement:
    stmt = analysis.parse(sql)
    analysis.analyse(stmt, {r.index: SCHEMA for r in stmt.refs})
    return stmt


atoms = st.one_of(
    st.builds(lambda op, v: f"n {op} {v}", st.sampled_from(["=", "<>", "<", "<=", ">", ">=", "!="]), st.integers(-2, 12)),
    st.builds(lambda v, op: f"{v} {op} n", st.integers(-2, 12), st.sampled_from(["<", ">=", "="])),
    st.builds(lambda vs: f"n IN ({', '.join(map(str, vs))})", st.lists(st.integers(-2, 12), min_size=1, max_size=4)),
    st.builds(lambda vs: f"n NOT IN ({', '.join(map(str, vs))})", st.lists(st.integers(-2, 12), min_size=1, max_size=3)),
    st.builds(lambda a, b: f"n BETWEEN {a} AND {b}", st.integers(-2, 12), st.integers(-2, 12)),
    st.sampled_from(["n IS NULL", "n IS NOT NULL", "NOT (n = 4)", "NOT (n < 3)"]),
)
predicates = st.recursive(
    atoms,
    lambda inner: st.builds(lambda a, b, op: f"({a}) {op} ({b})", inner, inner, st.sampled_from(["AND", "OR"])),
    max_leaves=5,
)


@settings(max_examples=60, deadline=None)
@given(predicates)
def test_domain_matches_duckdb_on_every_value(predicate: str) -> None:
    stmt = _analyse(f"SELECT id FROM crm.t WHERE {predicate}")
    ref = stmt.refs[0]
    con = duckdb.connect()
    con.register("v", pa.table({"n": pa.array(VALUES, pa.int64())}))
    matching = {row[0] for row in con.execute(f"SELECT n FROM v WHERE {predicate}").fetchall()}
    domain = ref.domains.get("n")
    if ref.exact_filter:
        assert domain is not None
        assert {v for v in VALUES if domain.contains(v)} == matching
    elif domain is not None:  # pushed part may only be weaker than the whole predicate
        assert matching <= {v for v in VALUES if domain.contains(v)}
    if domain is not None:
        assert value_set(domain, pa.int64(), 4)["@type"] == "SortedRangeSet"


def test_columns_are_the_projection_the_query_needs() -> None:
    stmt = _analyse("SELECT a.name, count(*) FROM crm.t a JOIN crm.t b ON a.id = b.id WHERE b.x > 1 GROUP BY 1")
    assert stmt.refs[0].columns == {"name", "id"}
    assert stmt.refs[1].columns == {"id", "x"}
    assert _analyse("SELECT count(*) FROM t").refs[0].columns == set()
    assert _analyse("SELECT * FROM t").refs[0].columns == set(SCHEMA.names)


def test_outer_join_null_side_gets_no_constraints() -> None:
    stmt = _analyse("SELECT a.id FROM crm.t a LEFT JOIN crm.t b ON a.id = b.id WHERE b.n IS NULL AND a.n = 1")
    assert set(stmt.refs[0].domains) == {"n"}
    assert stmt.refs[1].domains == {}


@pytest.mark.parametrize(
    ("sql", "limit", "order"),
    [
        ("SELECT * FROM t LIMIT 10", 10, ()),
        ("SELECT id FROM t WHERE n > 3 ORDER BY n DESC LIMIT 5", 5, (("n", True, False),)),
        ("SELECT id FROM t WHERE name LIKE 'a%' LIMIT 5", None, ()),  # filter not fully pushed
        ("SELECT n, count(*) FROM t GROUP BY n LIMIT 5", None, ()),
        ("SELECT DISTINCT n FROM t LIMIT 5", None, ()),
        ("SELECT id FROM t LIMIT 5 OFFSET 2", None, ()),
        ("SELECT id FROM t ORDER BY n + 1 LIMIT 5", None, ()),
        ("SELECT a.id FROM t a JOIN t b ON a.id = b.id LIMIT 5", None, ()),
    ],
)
def test_limit_pushdown_only_when_exact(sql: str, limit: int | None, order: tuple) -> None:
    ref = _analyse(sql).refs[0]
    assert (ref.limit, ref.order_by) == (limit, order)


def test_bad_sql_is_one_line_query_error() -> None:
    with pytest.raises(QueryError) as err:
        analysis.parse("SELECT FROM WHERE (")
    assert "\n" not in str(err.value)
    with pytest.raises(QueryError, match="nope"):
        _analyse("SELECT nope FROM t")
