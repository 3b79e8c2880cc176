"""Split windows: half-open, cover every instant exactly once, clipped by the query, round-trip."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from saasbridge.catalog import load_catalog
from saasbridge.query.ir import And, Compare, Query
from saasbridge.query.splits import SplitWindow, plan_splits
from saasbridge.runtime import catalog_path

UTC = dt.UTC
NOW = dt.datetime(2025, 1, 1, tzinfo=UTC)


def _inside(w: SplitWindow, t: dt.datetime) -> bool:
    return (w.lo is None or t >= w.lo) and (w.hi is None or t < w.hi)


def test_windows_cover_every_instant_exactly_once():
    cat = load_catalog(catalog_path())
    windows = plan_splits(cat, Query("accounts"), max_splits=16, now=NOW, min_pages_per_split=0)
    assert len(windows) == min(16, cat.rate_limit.max_concurrency)
    assert windows[0].lo is None and windows[-1].hi is None
    assert all(a.hi == b.lo for a, b in zip(windows, windows[1:], strict=False))
    rng = random.Random(1)
    for _ in range(2000):
        t = dt.datetime(2000, 1, 1, tzinfo=UTC) + dt.timedelta(milliseconds=rng.randrange(2 * 10**12))
        assert sum(_inside(w, t) for w in windows) == 1


@settings(max_examples=40, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(2021, 1, 1), max_value=dt.datetime(2026, 1, 1), timezones=st.just(UTC)),
    st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=900)),
    st.integers(min_value=1, max_value=10),
)
def test_query_bounds_clip_the_cuts(lo, width, max_splits):
    cat = load_catalog(catalog_path())
    q = Query("accounts", where=And((Compare("updated_at", "ge", lo), Compare("updated_at", "lt", lo + width))))
    windows = plan_splits(cat, q, max_splits=max_splits, now=NOW, min_pages_per_split=0)
    assert 1 <= len(windows) <= max_splits
    assert windows[0].lo is None and windows[-1].hi is None
    for w in windows[1:]:
        assert lo <= w.lo < lo + width  # every cut falls inside the query's own range
    assert all(a.hi == b.lo for a, b in zip(windows, windows[1:], strict=False))


@settings(max_examples=40, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(2021, 1, 1), max_value=dt.datetime(2026, 1, 1), timezones=st.just(UTC)),
    st.timedeltas(min_value=dt.timedelta(milliseconds=1), max_value=dt.timedelta(days=30)),
    st.integers(min_value=2, max_value=10),
)
def test_an_inclusive_upper_bound_rounds_as_the_planner_pushes_it(lo, width, max_splits):
    """`<= v` ends the range at step_up(v), the next whole millisecond: no cut lies beyond v."""
    cat = load_catalog(catalog_path())
    hi = lo + width
    q = Query("accounts", where=And((Compare("updated_at", "ge", lo), Compare("updated_at", "le", hi))))
    windows = plan_splits(cat, q, max_splits=max_splits, now=NOW, min_pages_per_split=0)
    assert all(lo <= w.lo <= hi for w in windows[1:])


def test_properties_round_trip_and_expr():
    cat = load_catalog(catalog_path())
    for w in plan_splits(cat, Query("deals"), max_splits=3, now=NOW, min_pages_per_split=0):
        assert SplitWindow.from_properties(w.to_properties()) == w
        assert all(isinstance(v, str) for v in w.to_properties().values())
    w = SplitWindow("updated_at", NOW, NOW + dt.timedelta(days=1))
    assert w.expr() == And((Compare("updated_at", "ge", NOW), Compare("updated_at", "lt", NOW + dt.timedelta(days=1))))
    assert SplitWindow().expr() is None


def test_no_hint_or_one_split_means_the_whole_entity():
    cat = load_catalog(catalog_path())
    assert plan_splits(cat, Query("accounts"), max_splits=1, now=NOW) == [SplitWindow()]
    assert plan_splits(cat, Query("predictions"), max_splits=8, now=NOW) == [SplitWindow()]


def _with_density(rows_per_day: float | None, window_days: float = 1.0):
    from dataclasses import replace

    cat = load_catalog(catalog_path())
    events = cat.entity("events")
    hint = replace(events.split, rows_per_day=rows_per_day, window_days=window_days)
    return replace(cat, entities=tuple(replace(e, split=hint) if e.name == "events" else e for e in cat.entities))


@settings(max_examples=60, deadline=None)
@given(
    st.floats(min_value=0.01, max_value=1e6),
    st.integers(min_value=0, max_value=1100),
    st.integers(min_value=0, max_value=1100),
    st.integers(min_value=1, max_value=64),
    st.sampled_from([1, 2, 5, 10]),
)
def test_split_count_follows_the_expected_pages(density, a, b, max_splits, min_pages):
    """No more windows than the query range's expected pages / min_pages_per_split, capped by
    max_splits and the rate budget; the windows still cover every instant exactly once."""
    cat = _with_density(density)
    start = dt.datetime(2022, 1, 1, tzinfo=UTC)
    lo, hi = sorted((start + dt.timedelta(days=a), start + dt.timedelta(days=b, hours=1)))
    q = Query("events", where=And((Compare("occurred_at", "ge", lo), Compare("occurred_at", "lt", hi))))
    windows = plan_splits(cat, q, max_splits=max_splits, now=NOW, min_pages_per_split=min_pages)
    page = cat.pagination_for(cat.entity("events")).max_page_size
    expected_pages = density * ((hi - lo) / dt.timedelta(days=1)) / page
    worth = max(1, int(expected_pages // min_pages))
    assert len(windows) <= min(worth, max_splits, cat.rate_limit.max_concurrency)
    if worth >= 2 and min(max_splits, cat.rate_limit.max_concurrency) >= 2 and (hi - lo) >= dt.timedelta(days=2):
        assert len(windows) >= 2  # a long enough scan is still split
    assert windows[0].lo is None and windows[-1].hi is None
    assert all(a.hi == b.lo for a, b in zip(windows, windows[1:], strict=False))
    for w in windows[1:]:
        assert lo <= w.lo < hi


def test_small_tables_and_narrow_ranges_get_one_split():
    cat = load_catalog(catalog_path())  # the demo hints give rows_per_day (rows at scale 1)
    assert plan_splits(cat, Query("deals"), max_splits=32, now=NOW) == [SplitWindow()]  # ~5 pages
    assert len(plan_splits(cat, Query("events"), max_splits=32, now=NOW)) == cat.rate_limit.max_concurrency
    week = Query("events", where=And((Compare("occurred_at", "ge", dt.datetime(2023, 3, 1, tzinfo=UTC)),
                                      Compare("occurred_at", "lt", dt.datetime(2023, 3, 8, tzinfo=UTC)))))
    assert plan_splits(cat, week, max_splits=32, now=NOW) == [SplitWindow()]  # ~640 rows: one page
    # without a density, window_days alone sizes the windows (as before)
    assert len(plan_splits(_with_density(None, 30.0), Query("events"), max_splits=32, now=NOW)) == \
        cat.rate_limit.max_concurrency
