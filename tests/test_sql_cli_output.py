"""`saasbridge sql` output: repeated column names survive in every format, suffixed as DuckDB
suffixes them (DuckDB's own CREATE TABLE AS is the ground truth)."""

from __future__ import annotations

import json

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from saasbridge.cli import main
from saasbridge.cli.sql import unique_names
from tests.helpers import reset_connectors

SQL = "SELECT 1 AS x, 2 AS x, 3 AS x_1, 4 AS y"


@pytest.fixture
def fresh_connectors():
    """The in-process connectors' warm state forgotten before and after (a later test's environment
    differs)."""
    reset_connectors()
    yield
    reset_connectors()


def duckdb_names(sql: str) -> list[str]:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS {sql}")
    return [row[0] for row in con.execute("DESCRIBE t").fetchall()]


@given(st.lists(st.sampled_from(["x", "x_1", "x_2", "x_1_1", "y"]), min_size=1, max_size=6))
def test_names_are_suffixed_as_duckdb_does(names):
    sql = "SELECT " + ", ".join(f"{i} AS {name}" for i, name in enumerate(names))
    assert unique_names(names) == duckdb_names(sql)


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_sql_keeps_every_column(fmt, aws_env, fresh_connectors, capsys):
    assert main(["sql", SQL, "--format", fmt]) == 0
    out = capsys.readouterr().out
    names = duckdb_names(SQL)
    if fmt == "json":
        assert json.loads(out) == [dict(zip(names, [1, 2, 3, 4], strict=True))]
    elif fmt == "csv":
        assert out.splitlines() == [",".join(f'"{n}"' for n in names), "1,2,3,4"]
    else:
        header = next(line for line in out.splitlines() if "x_1_1" in line)
        assert [cell.strip() for cell in header.strip("┃ \n").split("┃")] == names
