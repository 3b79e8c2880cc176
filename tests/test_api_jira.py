"""Jira-shaped API (tests/saas_stubs/jira.py): the WHERE compiled into JQL with parentheses, NOT,
IN, IS EMPTY and ORDER BY, sent in a POST body with the fields and paging; exact rows through both
connectors against brute force over the stub's issues, at the fewest requests."""

from __future__ import annotations

import datetime as dt
import math
import os

import orjson
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from athena_connector import protocol as p
from saasbridge.catalog import load_catalog
from saasbridge.query import ir
from saasbridge.query.planner import plan
from tests.helpers import eval_ir
from tests.saas_stubs.deploy import STUBS, deployment
from tests.saas_stubs.jira import PRIORITIES, STATUSES, TOKEN, Jira, make_issues, parse_jql

SEARCH = "/rest/api/3/search/jql"


jira = deployment("jira.yaml", {"apiKey": TOKEN})


def row(issue: dict) -> dict:
    f = issue["fields"]
    return {"key": issue["key"], "status": f["status"]["name"],
            "priority": f["priority"]["name"] if f["priority"] else None, "points": f["customfield_10016"],
            "created": dt.datetime.fromisoformat(f["created"])}


def keys(api: Jira, keep) -> list[str]:
    return sorted(i["key"] for i in api.issues if keep(row(i)))


def bodies(taken) -> list[dict]:
    assert {r.path for r in taken} == {SEARCH}
    return [orjson.loads(r.body) for r in taken]


def test_a_nested_appflow_filter_is_one_jql_query(jira):
    api = Jira(180)
    d = jira(api)
    expression = "(status = 'Done' or priority in ('High', 'Highest')) and not (story_points > 5)"
    rows = d.appflow("issues", expression=expression, fields=["key", "status", "priority", "story_points"])

    def keep(r):
        return (r["status"] == "Done" or r["priority"] in ("High", "Highest")) and (
            r["points"] is not None and not r["points"] > 5)

    assert sorted(r["key"] for r in rows) == keys(api, keep)
    (body,) = bodies(d.taken())
    assert body["jql"] == ('project = OPS AND ((status = "Done" OR priority IN ("High", "Highest")) '
                           'AND cf[10016] <= 5.0)')
    assert body["fields"] == ["status", "priority", "customfield_10016"]


def test_athena_null_and_ranges_become_is_empty_and_dates(jira):
    api = Jira(180)
    d = jira(api)
    cut = dt.datetime(2024, 6, 15, 12, 30, tzinfo=dt.UTC)
    summary = {"priority": p.is_null(pa.string()),
               "created_at": p.sorted_range_set(pa.date64(), [p.range_of(cut, None)])}
    rows = d.athena("issues", summary=summary, columns=["key", "created_at"])
    assert sorted(r["key"] for r in rows) == keys(api, lambda r: r["priority"] is None and r["created"] >= cut)
    (body,) = bodies(d.taken())
    assert body["jql"] == 'project = OPS AND (priority IS EMPTY AND created >= "2024-06-15")'  # a day: wider


def test_a_read_without_filters_is_the_project_query(jira):
    api = Jira(180)
    d = jira(api)
    rows = d.appflow("issues")
    assert sorted(r["key"] for r in rows) == keys(api, lambda r: True)
    sent = bodies(d.taken())
    assert len(sent) == math.ceil(180 / 100) and all(b["jql"] == "project = OPS" for b in sent)
    assert sent[1]["nextPageToken"] == "100"


def test_order_and_limit_go_into_the_query(jira):
    api = Jira(180)
    d = jira(api)
    rows = d.athena("issues", columns=["key", "created_at"], limit=5, order_by=[("created_at", "DESC_NULLS_LAST")])
    newest = sorted(api.issues, key=lambda i: i["fields"]["created"], reverse=True)[:5]
    assert [r["key"] for r in rows] == [i["key"] for i in newest]
    (body,) = bodies(d.taken())
    assert body["jql"] == "project = OPS ORDER BY created DESC" and body["maxResults"] == 5


# ------------------------------------------------------------------ the compiler, property-based

VALUES = {"status": st.sampled_from([*STATUSES, 'x"\\']), "priority": st.sampled_from([p_ for p_ in PRIORITIES if p_]),
          "story_points": st.sampled_from([1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 4.5]),
          "created_at": st.datetimes(dt.datetime(2023, 12, 1), dt.datetime(2025, 3, 1), timezones=st.just(dt.UTC))}
RANGED = ("story_points", "created_at")


def _atom(column: str):
    v = VALUES[column]
    ops = ["eq", "ne", "lt", "le", "gt", "ge"] if column in RANGED else ["eq", "ne"]
    return st.one_of(st.builds(ir.Compare, st.just(column), st.sampled_from(ops), v),
                     st.builds(lambda xs, n: ir.InList(column, tuple(xs), n), st.lists(v, min_size=1, max_size=3),
                               st.booleans()),
                     st.builds(ir.IsNull, st.just(column), st.booleans()))


EXPRS = st.recursive(st.one_of(*(_atom(c) for c in VALUES)), lambda inner: st.one_of(
    st.builds(lambda xs: ir.And(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
    st.builds(lambda xs: ir.Or(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
    st.builds(ir.Not, inner)), max_leaves=7)


def _sql(expr, r: dict):
    return eval_ir(expr, {"status": r["status"], "priority": r["priority"], "created_at": r["created"],
                          "story_points": None if r["points"] is None else float(r["points"])})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRS)
def test_the_jql_parses_and_selects_a_superset(expr):
    catalog = load_catalog(STUBS / "jira.yaml", env={**os.environ, "SAASBRIDGE_API_URL": "http://127.0.0.1:9"})
    planned = plan(catalog, ir.Query("issues", ("key",), expr))
    if planned.mode == "empty":
        assert not any(_sql(expr, row(i)) for i in ISSUES)
        return
    keep, _ = parse_jql(planned.endpoint.body["jql"])
    for issue in ISSUES:
        if _sql(expr, row(issue)):
            assert keep(issue), (planned.endpoint.body["jql"], row(issue))


ISSUES = make_issues(150)
