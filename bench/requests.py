"""API requests per query: 12 selective SQL queries through the local engine and the connector,
requests made (the connector's own ApiRequests metric) vs the fewest the reference API allows.

The minimum and the expected result are worked out by brute force over the API's own database:
a list request returns at most 1,000 rows, an `ids` request up to 100 ids, so a query whose
filters the API can apply needs ceil(matching rows / 1,000) requests (at least one per entity).

    python -m bench.requests [--quick]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.support import (
    MeteredInvoker,
    catalog_with_budget,
    connector_environment,
    figure,
    run_from_command_line,
    truth_records,
    workdir,
)

PAGE = 1000  # the reference API's largest page


def pages(rows: int) -> int:
    return max(1, math.ceil(rows / PAGE))


def sql_ts(iso: str) -> str:
    """An API timestamp ('2024-03-05T17:04:11.250Z') as a SQL TIMESTAMP literal."""
    return f"TIMESTAMP '{iso.replace('T', ' ').rstrip('Z')}'"


@dataclass
class Case:
    name: str
    sql: str
    expected: Any  # rows the query returns (or the value of a count), by brute force
    minimum: int  # fewest API requests


def cases(db: dict[str, list[dict]]) -> list[Case]:
    acc, con, deals, ev = db["accounts"], db["contacts"], db["deals"], db["events"]
    times = sorted(e["occurred_at"] for e in ev)
    lo, hi = times[len(times) // 10], times[len(times) // 4]
    in_range = [e for e in ev if lo <= e["occurred_at"] < hi]
    meetings = [e for e in ev if e["type"] == "meeting" and e["occurred_at"] >= hi]
    acc3 = [c for c in con if c["account_id"] == "acc_000003"]
    acc7 = [c for c in con if c["account_id"] == "acc_000007"]
    won = [d for d in deals if d["stage"] == "closed_won"]
    inactive = [a for a in acc if a["is_active"] is False]
    top = sorted(acc, key=lambda a: (a["updated_at"], a["id"]), reverse=True)[:5]
    count: Callable[[list], int] = len
    listed = [i for i in ("acc_000001", "acc_000002", "acc_000090") if any(a["id"] == i for a in acc)]
    return [
        Case("id lookup", "SELECT * FROM crm.accounts WHERE id = 'acc_000042'", 1, 1),
        Case("IN list of ids", "SELECT id, name FROM crm.accounts WHERE id IN ('acc_000001', 'acc_000002', "
             "'acc_000090')", len(listed), 1),
        Case("time range", f"SELECT id FROM crm.events WHERE occurred_at >= {sql_ts(lo)} "
             f"AND occurred_at < {sql_ts(hi)}", count(in_range), pages(len(in_range))),
        Case("equality (foreign key)", "SELECT id FROM crm.contacts WHERE account_id = 'acc_000003'",
             count(acc3), pages(len(acc3))),
        Case("equality (enum)", "SELECT id, amount FROM crm.deals WHERE stage = 'closed_won'",
             count(won), pages(len(won))),
        Case("equality (boolean)", "SELECT id FROM crm.accounts WHERE is_active = false",
             count(inactive), pages(len(inactive))),
        Case("LIMIT", "SELECT id, name FROM crm.accounts LIMIT 10", 10, 1),
        Case("ORDER BY … LIMIT", "SELECT id FROM crm.accounts ORDER BY updated_at DESC, id DESC LIMIT 5",
             [a["id"] for a in top], 1),
        Case("projection, whole table", "SELECT id, type FROM crm.events", len(ev), pages(len(ev))),
        Case("join with a key filter", "SELECT a.name, c.email FROM crm.accounts a JOIN crm.contacts c "
             "ON c.account_id = a.id WHERE a.id = 'acc_000007'", count(acc7), 1 + pages(len(acc7))),
        Case("equality + time range", f"SELECT id FROM crm.events WHERE type = 'meeting' "
             f"AND occurred_at >= {sql_ts(hi)}", count(meetings), pages(len(meetings))),
        Case("count(*)", "SELECT count(*) AS n FROM crm.deals", len(deals), pages(len(deals))),
    ]


def outcome(case: Case, table: Any) -> Any:
    """What the query returned, in the shape of `case.expected`."""
    if isinstance(case.expected, list):
        return table.column(0).to_pylist()
    if case.name == "count(*)":
        return table.column("n")[0].as_py()
    return table.num_rows


def run(quick: bool = False) -> list[dict]:
    from saasbridge.local.engine import Engine, EngineOptions
    from saasbridge.local.processes import start_reference_api

    scale = 0.05 if quick else 0.1
    rate = 1000.0  # requests are counted here, not timed: no latency and a rate limit that never binds
    out: list[dict] = []
    with workdir("requests") as tmp, start_reference_api(scale=scale, rate_limit=rate) as api:
        db = {e: truth_records(api.db_path, e) for e in ("accounts", "contacts", "deals", "events")}  # type: ignore[arg-type]
        catalog = catalog_with_budget(tmp, rate=rate, concurrency=4, scale=scale)
        with connector_environment(api.url, None, catalog):
            invoker = MeteredInvoker()
            engine = Engine(EngineOptions(invoker=invoker, max_inline_block_size=6_000_000))
            engine.list_schemas()
            for case in cases(db):
                invoker.reset()
                result = engine.execute(case.sql)
                made = int(invoker.reset().get("ApiRequests", 0))
                got = outcome(case, result.table)
                right = got == case.expected
                split_note = f" ({result.stats.splits} splits)" if result.stats.splits > 1 else ""
                out.append(figure(
                    f"API requests: {case.name}{split_note}", made, "requests", bound=case.minimum, bound_label="minimum",
                    ratio=made / case.minimum, target="= minimum, exact result", passed=made == case.minimum and right,
                    sql=case.sql, result_correct=right, splits=result.stats.splits,
                    returned=got if not isinstance(got, list) else len(got),
                ))
    total, least = sum(r["value"] for r in out), sum(r["bound"] for r in out)
    out.append(figure("API requests: all 12 queries", total, "requests", bound=least, bound_label="minimum",
                      ratio=total / least, target="= minimum", passed=total == least))
    return out


def main() -> None:
    run_from_command_line(run, __doc__, quick_help="a smaller database")


if __name__ == "__main__":
    main()
