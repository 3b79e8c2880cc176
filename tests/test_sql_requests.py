"""How many requests reach the SaaS API for selective queries, counted at the server side by a
proxy in front of the reference API (independent of what the connector reports)."""

from __future__ import annotations

import pytest

from saasbridge.local.engine import EndpointInvoker, Engine, EngineOptions, run_sql
from tests.sql_support import CountingProxy, EndpointProcess, connector_env, create_bucket


@pytest.fixture(scope="module")
def counted(reference_api, moto_server):
    create_bucket(moto_server.url)
    proxy = CountingProxy(reference_api.url)
    endpoint = EndpointProcess(connector_env(proxy.url, moto_server.url))
    engine = Engine(EngineOptions(invoker=EndpointInvoker(endpoint.url), s3_endpoint_url=moto_server.url))
    try:
        yield engine, proxy
    finally:
        endpoint.stop()
        proxy.stop()


def _requests(counted, sql: str) -> tuple[list[str], object]:
    engine, proxy = counted
    run_sql(engine, "SHOW SCHEMAS")  # ping and warm-up outside the count
    proxy.reset()
    result = run_sql(engine, sql)
    return proxy.api_requests(), result


def test_lookup_by_id_is_one_request(counted) -> None:
    paths, result = _requests(counted, "SELECT * FROM crm.accounts WHERE id = 'acc_000042'")
    assert result.table.num_rows == 1
    assert len(paths) == 1, paths


def test_lookup_of_a_few_ids_is_one_request(counted) -> None:
    paths, result = _requests(counted, "SELECT id FROM crm.accounts WHERE id IN ('acc_000001', 'acc_000002', 'acc_000003')")
    assert result.table.num_rows == 3
    assert len(paths) == 1, paths


def test_limit_10_is_one_page(counted) -> None:
    paths, result = _requests(counted, "SELECT id, name FROM crm.accounts LIMIT 10")
    assert result.table.num_rows == 10
    assert len(paths) == 1, paths


def test_pushed_equality_filter_reads_only_matching_pages(counted) -> None:
    # contacts at scale 0.1: 1,000 rows; one account's contacts fit one page.
    paths, result = _requests(counted, "SELECT id FROM crm.contacts WHERE account_id = 'acc_000003'")
    assert len(paths) == 1, paths
    assert all("account_id=acc_000003" in p for p in paths)


def test_reported_requests_match_the_server_count(counted) -> None:
    paths, result = _requests(counted, "SELECT id FROM crm.deals WHERE stage = 'closed_won'")
    if result.stats.api_requests is None:
        pytest.skip("the connector does not report its API requests in its log (EMF metric ApiRequests)")
    assert result.stats.api_requests == len(paths)


def test_count_of_a_small_table_is_one_request_and_exact(counted, reference_api) -> None:
    # deals at scale 0.1: 500 rows, one 1,000-row page; the catalog's rows_per_day says it is
    # not worth several splits (each would cost a request of its own).
    from demo_saas.store import dump_records

    paths, result = _requests(counted, "SELECT count(*) AS n FROM crm.deals")
    assert result.table.column("n")[0].as_py() == len(dump_records(reference_api.db_path, "acme", "deals"))
    assert len(paths) == 1, paths
