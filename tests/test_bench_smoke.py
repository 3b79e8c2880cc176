"""The benchmark suite executes: every module imports, the cheapest one runs with tiny sizes and
its rows render into the table; the README section is replaced between its markers only.
No timing is asserted (timings live in bench/)."""

from __future__ import annotations

import importlib

import pytest

from bench import MODULES
from bench.__main__ import END, START, run_module, update_readme
from bench.support import api_bound_rows_per_s, catalog_with_budget, markdown_table

OPTIONAL = {"cold_start", "extract"}  # written by others / needs the bench extra (dlt)


@pytest.mark.parametrize("name", MODULES)
def test_every_bench_module_imports_and_has_run(name: str) -> None:
    try:
        module = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as exc:
        if name in OPTIONAL:
            pytest.skip(f"bench.{name} not importable here: {exc}")
        raise
    assert callable(module.run)


def test_cheapest_benchmark_runs_and_renders() -> None:
    rows, record = run_module("conversion", quick=True)
    assert record["status"] == "ok", record
    entities = {r["entity"] for r in record["raw"]}
    assert len(rows) == 2 * len(entities) > 0  # two ratios (vs per-row, vs parse floor) per entity
    for row in rows:
        assert row["value"] > 0 and row["bound"] > 0 and row["pass"] in (True, False)
        assert row["ratio"] == pytest.approx(row["value"] / row["bound"], rel=0.01)
    table = markdown_table(rows).splitlines()
    assert len(table) == 2 + len(rows) and all(line.count("|") == 7 for line in table)


def test_api_bound_is_the_smaller_of_rate_and_latency() -> None:
    common = dict(page_size=1000, burst=0, seconds=10.0)
    assert api_bound_rows_per_s(rate=50, concurrency=1, latency_s=0.05, **common) == 1000 * 1 / 0.05
    assert api_bound_rows_per_s(rate=50, concurrency=8, latency_s=0.05, **common) == 1000 * 50
    with_burst = api_bound_rows_per_s(page_size=1000, rate=50, burst=50, concurrency=8, latency_s=0.05, seconds=10)
    assert with_burst == 1000 * (50 + 50 / 10)


def test_bench_catalog_carries_the_rate_settings(tmp_path) -> None:
    from saasbridge.catalog import load_catalog

    catalog = load_catalog(catalog_with_budget(tmp_path, rate=7.0, concurrency=8))
    assert (catalog.rate_limit.requests_per_second, catalog.rate_limit.burst,
            catalog.rate_limit.max_concurrency) == (7.0, 7, 8)


def test_readme_section_is_replaced_between_markers_only(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Performance\n\nold table\n\n## Next\n\nkept\n")
    update_readme(f"{START}\nfirst\n{END}", readme)
    text = readme.read_text()
    assert "old table" not in text and "first" in text and text.endswith("## Next\n\nkept\n")
    update_readme(f"{START}\nsecond\n{END}", readme)
    text = readme.read_text()
    assert "first" not in text and text.count(START) == 1 and "second" in text and "kept" in text
