"""Salesforce-shaped API (tests/saas_stubs/salesforce.py): every read one SOQL query through both
connectors (projection, WHERE with AND / OR / NOT and parentheses, escaped strings, ORDER BY),
the rest of the answer at nextRecordsUrl; exact rows against brute force over the stub's
accounts, the fewest requests."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pyarrow as pa
import pytest

from athena_connector import protocol as p
from tests.saas_stubs.deploy import deployment
from tests.saas_stubs.salesforce import PATH, TOKEN, Salesforce, _time, parse_soql

salesforce = deployment("salesforce.yaml", {"accessToken": TOKEN})
MAY = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
JUNE_2023 = dt.datetime(2023, 6, 1, tzinfo=dt.UTC)


def ids(api: Salesforce, keep) -> list[str]:
    return sorted(a["Id"] for a in api.accounts if keep(a))


def revenue(a: dict) -> Decimal | None:
    return None if a["AnnualRevenue"] is None else Decimal(str(a["AnnualRevenue"]))


CASES = [
    ("name = 'O\\'Hara & Sons'", lambda a: a["Name"] == "O'Hara & Sons", "WHERE Name = 'O\\'Hara & Sons'"),
    ("name = 'back\\\\slash'", lambda a: a["Name"] == "back\\slash", "WHERE Name = 'back\\\\slash'"),
    ("name = 'The \"Best\" Co'", lambda a: a["Name"] == 'The "Best" Co', "WHERE Name = 'The \"Best\" Co'"),
    # SOQL compares strings in any case: eq selects ACME and acme too (the residual keeps Acme) ...
    ("name = 'Acme'", lambda a: a["Name"] == "Acme", "WHERE Name = 'Acme'"),
    # ... and != would drop them, so it is not sent
    ("name != 'acme' and employees > 1500", lambda a: a["Name"] != "acme" and (a["NumberOfEmployees"] or 0) > 1500,
     "WHERE NumberOfEmployees > 1500"),
    ("(industry = 'Energy' or employees > 500) and annual_revenue >= 1000000",
     lambda a: (a["Industry"] == "Energy" or (a["NumberOfEmployees"] or 0) > 500) and (revenue(a) or 0) >= 1000000,
     "WHERE ((Industry = 'Energy' OR NumberOfEmployees > 500) AND AnnualRevenue >= 1000000)"),
    ("industry in ('Energy', 'Media') and not (employees < 100)",
     lambda a: a["Industry"] in ("Energy", "Media") and a["NumberOfEmployees"] is not None and a["NumberOfEmployees"] >= 100,
     "WHERE (Industry IN ('Energy', 'Media') AND NumberOfEmployees >= 100)"),
    ("created_date >= 2024-05-01T00:00:00.000Z", lambda a: _time(a["CreatedDate"]) >= MAY,
     "WHERE CreatedDate >= 2024-05-01T00:00:00Z"),
]


@pytest.mark.parametrize(("expression", "keep", "sent"), CASES, ids=[c[0] for c in CASES])
def test_appflow_filters_compile_into_one_soql_query(salesforce, expression, keep, sent):
    api = Salesforce(300)
    d = salesforce(api)
    rows = d.appflow("accounts", expression=expression, fields=["id", "name", "employees"])
    assert sorted(r["id"] for r in rows) == ids(api, keep)
    assert len(rows) == len({r["id"] for r in rows})
    taken = d.taken()
    soql = taken[0].query["q"]
    assert soql.startswith("SELECT ") and soql.endswith(f" FROM Account {sent}")
    assert set(soql[7:soql.index(" FROM")].split(", ")) >= {"Id", "Name", "NumberOfEmployees"}
    matched = len([a for a in api.accounts if parse_soql(soql)[1](a)])
    assert [r.path for r in taken] == [PATH] + [f"{PATH}/{r.path.rsplit('/', 1)[1]}" for r in taken[1:]]
    assert len(taken) == max(1, math.ceil(matched / 100))  # one query, then its nextRecordsUrl batches


def test_athena_nulls_ranges_order_and_limit_go_into_the_query(salesforce):
    api = Salesforce(300)
    d = salesforce(api)
    summary = {"industry": p.is_null(pa.string()),
               "created_date": p.sorted_range_set(pa.timestamp("ms"), [p.range_of(JUNE_2023, None)])}
    rows = d.athena("accounts", summary=summary, columns=["id", "created_date"], order_by=[("created_date", "DESC_NULLS_LAST")],
                    limit=25)
    want = sorted((a for a in api.accounts if a["Industry"] is None and _time(a["CreatedDate"]) >= JUNE_2023),
                  key=lambda a: _time(a["CreatedDate"]), reverse=True)[:25]
    assert len(want) == 25 and [r["id"] for r in rows] == [a["Id"] for a in want]
    (request,) = d.taken()  # 25 rows: the first batch is enough
    assert request.query["q"].endswith(
        " FROM Account WHERE (Industry = null AND CreatedDate >= 2023-06-01T00:00:00Z) ORDER BY CreatedDate DESC")
