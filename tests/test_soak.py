"""Soak (make soak only): repeated full extracts and full scans of every entity at a larger scale
against an API that fails 20 % of requests and throttles, each compared with the source rows."""

from __future__ import annotations

import os

import pytest

from saasbridge.catalog import load_catalog
from saasbridge.local.processes import start_reference_api
from saasbridge.runtime import catalog_path
from tests import reliability_report
from tests.athena_driver import actual_rows, scan
from tests.test_faults import ENTITIES, appflow_client_stats, appflow_rows, checksum, extract, source_rows
from tests.test_faults import connectors as faults_connectors

pytestmark = pytest.mark.soak
ROUNDS = int(os.environ.get("SAASBRIDGE_SOAK_ROUNDS", "3"))


connectors = faults_connectors  # the fault suite's fixture, registered here under its own name


@pytest.mark.timeout(3600)
def test_soak_fail_rate_and_throttling(connectors):
    with start_reference_api(scale=0.2, seed=21, rate_limit=40, fail_rate=0.2) as api:
        arn = connectors(api.url, rps=60, concurrency=8, max_splits=8)
        expected = delivered = 0
        for _ in range(ROUNDS):
            for entity_name in ENTITIES:
                truth = source_rows(api, entity_name)
                got = appflow_rows(entity_name, extract(api.url, arn, entity_name, max_results=2500)[0])
                assert (len(got), checksum(got)) == (len(truth), checksum(truth)), entity_name
                entity = load_catalog(catalog_path()).entity(entity_name)
                rows = actual_rows(entity, scan(entity_name))
                assert (len(rows), checksum(rows)) == (len(truth), checksum(truth)), entity_name
                expected += 2 * len(truth)
                delivered += len(got) + len(rows)
        stats = appflow_client_stats()
    reliability_report.record(
        "soak", f"{ROUNDS} rounds, scale 0.2, fail-rate 0.2, --rate-limit 40",
        f"both connectors, every entity; AppFlow retries {stats['retries']}, throttled {stats['throttled']}",
        f"{expected} rows", f"{delivered} rows, checksums equal")
