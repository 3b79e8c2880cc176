"""The local SQL engine end to end: every query runs through the real connector (in its own
process, behind the Lambda invoke endpoint, reached with boto3) against the real reference API,
and must give exactly what DuckDB gives on a direct dump of the API's database."""

from __future__ import annotations

import pytest

from saasbridge.local.engine import EndpointInvoker, Engine, EngineOptions, run_sql
from tests.sql_support import (
    CountingProxy,
    EndpointProcess,
    connector_env,
    create_bucket,
    rows,
    sort_key,
    truth_database,
)

# (sql, ordered): ordered = compare row order too (the ORDER BY keys are unique).
QUERIES = [
    ("SELECT * FROM crm.accounts", False),
    ("SELECT id, name FROM crm.accounts WHERE country = 'DE'", False),
    ("SELECT id FROM crm.accounts WHERE country IN ('DE', 'FR', 'US')", False),
    ("SELECT id, country FROM crm.accounts WHERE country <> 'DE'", False),
    ("SELECT id FROM crm.accounts WHERE industry IS NULL", False),
    ("SELECT id, industry FROM crm.accounts WHERE industry IS NOT NULL AND is_active = true", False),
    ("SELECT id FROM crm.accounts WHERE is_active = false", False),
    ("SELECT id, employees FROM crm.accounts WHERE employees > 500", False),
    ("SELECT id FROM crm.accounts WHERE employees BETWEEN 10 AND 200", False),
    ("SELECT id FROM crm.accounts WHERE employees < 50 OR employees >= 5000", False),
    ("SELECT id FROM crm.accounts WHERE NOT (employees > 100)", False),
    ("SELECT id, annual_revenue FROM crm.accounts WHERE annual_revenue >= 1000000.50", False),
    ("SELECT id FROM crm.accounts WHERE annual_revenue IS NULL OR annual_revenue < 100000", False),
    ("SELECT id, created_at FROM crm.accounts WHERE created_at >= TIMESTAMP '2023-01-01 00:00:00'", False),
    (
        "SELECT id FROM crm.accounts WHERE updated_at BETWEEN TIMESTAMP '2023-06-01 00:00:00' "
        "AND TIMESTAMP '2024-06-01 00:00:00.500'",
        False,
    ),
    ("SELECT id, address_city FROM crm.accounts WHERE address_postal_code IS NULL", False),
    ("SELECT id, address, tags FROM crm.accounts WHERE country = 'FR'", False),
    ("SELECT id, tags FROM crm.accounts WHERE id IN ('acc_000001', 'acc_000007', 'acc_000150', 'acc_999999')", False),
    ("SELECT * FROM crm.accounts WHERE id = 'acc_000042'", False),
    ("SELECT id FROM crm.accounts WHERE id > 'acc_000190'", False),
    ("SELECT country, count(*) AS n, sum(employees) AS staff FROM crm.accounts GROUP BY country", False),
    ("SELECT count(*) FROM crm.events", False),
    ("SELECT type, count(*) AS n, avg(duration_ms) AS avg_ms FROM crm.events GROUP BY type", False),
    ("SELECT id FROM crm.events WHERE duration_ms IS NULL AND type = 'page_view'", False),
    (
        "SELECT id, occurred_at FROM crm.events WHERE occurred_at < TIMESTAMP '2023-03-01 00:00:00' "
        "AND type IN ('meeting', 'call')",
        False,
    ),
    ("SELECT id, properties FROM crm.events WHERE type = 'form_submit' AND account_id < 'acc_000020'", False),
    ("SELECT id, lead_score FROM crm.contacts WHERE lead_score > 0.75", False),
    ("SELECT id FROM crm.contacts WHERE do_not_contact = true AND title IS NULL", False),
    ("SELECT id, first_name FROM crm.contacts WHERE account_id = 'acc_000003'", False),
    ("SELECT id FROM crm.contacts WHERE last_name >= 'M' AND last_name < 'P'", False),
    ("SELECT id FROM crm.contacts WHERE email LIKE '%.com' AND lead_score < 0.2", False),
    ("SELECT id, amount FROM crm.deals WHERE stage = 'closed_won' AND amount > 50000", False),
    ("SELECT id, close_date FROM crm.deals WHERE close_date >= DATE '2024-01-01'", False),
    ("SELECT id FROM crm.deals WHERE close_date IS NULL", False),
    (
        "SELECT id FROM crm.deals WHERE probability BETWEEN 20 AND 60 AND stage NOT IN ('closed_lost', 'closed_won')",
        False,
    ),
    ("SELECT stage, count(*) AS n, sum(amount) AS total FROM crm.deals GROUP BY stage", False),
    (
        "SELECT a.country, count(d.id) AS deals, sum(d.amount) AS total FROM crm.accounts a "
        "JOIN crm.deals d ON d.account_id = a.id WHERE d.stage = 'closed_won' GROUP BY a.country",
        False,
    ),
    (
        "SELECT a.id, count(c.id) AS reachable FROM crm.accounts a LEFT JOIN crm.contacts c "
        "ON c.account_id = a.id AND c.do_not_contact = false WHERE a.country = 'DE' GROUP BY a.id",
        False,
    ),
    ("SELECT a.id FROM crm.accounts a LEFT JOIN crm.deals d ON d.account_id = a.id WHERE d.id IS NULL", False),
    ("SELECT id, employees FROM crm.accounts ORDER BY employees DESC, id LIMIT 10", True),
    ("SELECT id, amount FROM crm.deals WHERE currency = 'EUR' ORDER BY amount DESC, id LIMIT 5", True),
    ("SELECT id, industry FROM crm.accounts ORDER BY industry NULLS FIRST, id LIMIT 15", True),
    (
        "WITH big AS (SELECT id FROM crm.accounts WHERE employees > 1000) "
        "SELECT count(*) AS n FROM crm.deals WHERE account_id IN (SELECT id FROM big)",
        False,
    ),
    ('SELECT count(*) AS n FROM "saas"."crm"."accounts" WHERE country = \'US\'', False),
]


@pytest.fixture(scope="module")
def stack(reference_api, moto_server):
    create_bucket(moto_server.url)
    proxy = CountingProxy(reference_api.url)
    endpoint = EndpointProcess(connector_env(proxy.url, moto_server.url))
    try:
        yield proxy, endpoint
    finally:
        endpoint.stop()
        proxy.stop()


@pytest.fixture(scope="module")
def engine(stack, moto_server) -> Engine:
    _, endpoint = stack
    return Engine(
        EngineOptions(invoker=EndpointInvoker(endpoint.url), s3_endpoint_url=moto_server.url)
    )


@pytest.fixture(scope="module")
def truth(reference_api):
    con = truth_database(str(reference_api.db_path))
    yield con
    con.close()


@pytest.mark.parametrize(("sql", "ordered"), QUERIES, ids=[f"q{i:02d}" for i in range(len(QUERIES))])
def test_query_matches_direct_dump(engine: Engine, truth, sql: str, ordered: bool) -> None:
    result = run_sql(engine, sql)
    truth_table = truth.sql(sql.replace('"saas".', "")).to_arrow_table()  # DuckDB has no data source level
    expected = rows(truth_table)
    got = rows(result.table)
    assert result.table.column_names == truth_table.column_names
    if ordered:
        assert got == expected
    else:
        assert sorted(got, key=sort_key) == sorted(expected, key=sort_key)
    assert result.stats.rows_returned == len(expected)


def test_limit_without_order_returns_that_many_real_rows(engine: Engine, truth) -> None:
    got = rows(run_sql(engine, "SELECT id, country FROM crm.accounts WHERE country = 'DE' LIMIT 7").table)
    everything = set(rows(truth.sql("SELECT id, country FROM crm.accounts WHERE country = 'DE'").to_arrow_table()))
    assert len(got) == min(7, len(everything)) and len(set(got)) == len(got)
    assert set(got) <= everything


def test_large_scan_spills_and_stays_exact(stack, aws_env, moto_server, truth) -> None:
    _, endpoint = stack
    small = Engine(
        EngineOptions(
            invoker=EndpointInvoker(endpoint.url),
            s3_endpoint_url=moto_server.url,
            max_inline_block_size=20_000,
            max_block_size=50_000,
        )
    )
    sql = "SELECT id, account_id, type, occurred_at, duration_ms FROM crm.events"
    result = run_sql(small, sql)
    assert result.stats.spilled_blocks > 0
    assert sorted(rows(result.table)) == sorted(rows(truth.sql(sql).to_arrow_table()))


def test_show_and_describe(engine: Engine, truth) -> None:
    assert run_sql(engine, "SHOW SCHEMAS").table.column("database_name").to_pylist() == ["crm"]
    tables = set(run_sql(engine, "SHOW TABLES IN crm").table.column("tab_name").to_pylist())
    expected = {r[0] for r in truth.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'crm'").fetchall()}
    assert tables == expected
    described = run_sql(engine, "DESCRIBE crm.deals").table.to_pylist()
    truth_cols = [r[0] for r in truth.execute("DESCRIBE crm.deals").fetchall()]
    assert [d["col_name"] for d in described] == truth_cols
    types = {d["col_name"]: d["data_type"] for d in described}
    assert types["created_at"] == "timestamp" and types["close_date"] == "date" and types["amount"].startswith("decimal(")
