"""Zendesk-shaped API (tests/saas_stubs/zendesk.py): filters compiled into Zendesk's search
query through both connectors, exact rows against brute force over the stub's tickets, the fewest
requests; what the grammar cannot say exactly (OR, <=, >=, a quote, case-insensitive or ordinal
string comparisons) stays in the residual."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest

from athena_connector import protocol as p
from tests.saas_stubs.deploy import deployment
from tests.saas_stubs.zendesk import TOKEN, Zendesk, parse_query

SEARCH = "/api/v2/search/export"
zendesk = deployment("zendesk.yaml", {"accessToken": TOKEN})


def ids(api: Zendesk, keep) -> list[int]:
    return sorted(t["id"] for t in api.tickets if keep(t))


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


MAY, JUNE = dt.datetime(2024, 5, 1, tzinfo=dt.UTC), dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
CASES = [
    ("status = 'open'", lambda t: t["status"] == "open", 'status:"open"'),
    # Zendesk's negation, ordering and matching are not SQL's on strings: only eq goes
    ("status = 'open' and priority != 'low'", lambda t: t["status"] == "open" and t["priority"] not in ("low", None),
     'status:"open"'),
    ("requester_id = 3 and assignee_id != 101",
     lambda t: t["requester_id"] == 3 and t["assignee_id"] is not None and t["assignee_id"] != 101,
     "requester:3 -assignee:101"),
    ("created_at > 2024-05-01T00:00:00.000Z and created_at <= 2024-06-01T00:00:00.000Z",
     lambda t: MAY < _ts(t["created_at"]) <= JUNE, "created>2024-05-01T00:00:00Z created<2024-06-01T00:00:01Z"),
    ("subject = 'Refund: order 7'", lambda t: t["subject"] == "Refund: order 7", 'subject:"Refund: order 7"'),
    ("subject = 'The \"blue\" screen'", lambda t: t["subject"] == 'The "blue" screen', None),  # no way to quote it
    ("status = 'open' or status = 'new'", lambda t: t["status"] in ("open", "new"), None),  # no OR
]


@pytest.mark.parametrize(("expression", "keep", "sent"), CASES, ids=[c[0] for c in CASES])
def test_appflow_filters_compile_into_one_zendesk_query(zendesk, expression, keep, sent):
    api = Zendesk(240)
    d = zendesk(api)
    rows = d.appflow("tickets", expression=expression, fields=["id", "status", "subject"])
    assert sorted(r["id"] for r in rows) == ids(api, keep)
    assert len(rows) == len({r["id"] for r in rows})
    taken = d.taken()
    assert {r.path for r in taken} == {SEARCH}
    query = taken[0].query["query"]
    assert query == "type:ticket" + (f" {sent}" if sent else "")
    assert len(taken) == max(1, math.ceil(len([t for t in api.tickets if parse_query(query)(t)]) / 100))


def test_athena_constraints_become_query_terms(zendesk):
    api = Zendesk(240)
    d = zendesk(api)
    summary = {"priority": p.values_in(pa.string(), ["urgent"]),
               "requester_id": p.sorted_range_set(pa.int64(), [p.range_of(2, 4, low_inclusive=False, high_inclusive=False)])}
    rows = d.athena("tickets", summary=summary, columns=["id", "priority", "requester_id"])
    assert sorted(r["id"] for r in rows) == ids(api, lambda t: t["priority"] == "urgent" and t["requester_id"] == 3)
    (request,) = d.taken()
    assert request.query["query"] == 'type:ticket priority:"urgent" requester>2 requester<4'


def test_a_range_on_status_is_sqls_order_not_zendesks(zendesk):
    """SQL's `status < 'open'` (closed, hold, new) is not Zendesk's `status<open` (new): not sent."""
    api = Zendesk(240)
    d = zendesk(api)
    summary = {"status": p.sorted_range_set(pa.string(), [p.range_of(None, "open", high_inclusive=False)])}
    rows = d.athena("tickets", summary=summary, columns=["id", "status"])
    assert sorted(r["id"] for r in rows) == ids(api, lambda t: t["status"] in ("closed", "hold", "new"))
    assert {r.query["query"] for r in d.taken()} == {"type:ticket"}


@pytest.mark.parametrize("connector", ["athena", "appflow"])
def test_cursor_pages_end_on_has_more_though_the_last_keeps_a_cursor(zendesk, connector):
    api = Zendesk(200)  # two full pages: the second says has_more false and still gives an after_cursor
    d = zendesk(api)
    rows = d.athena("tickets", columns=["id"]) if connector == "athena" else d.appflow("tickets", fields=["id"])
    assert sorted(r["id"] for r in rows) == ids(api, lambda t: True)
    taken = d.taken()
    assert [r.query.get("page[after]") for r in taken] == [None, "100"]
    assert {r.query["filter[type]"] for r in taken} == {"ticket"}
