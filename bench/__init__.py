"""The benchmark suite: plain scripts, one module per figure group, each with
`run(quick: bool = False) -> list[dict]`; `python -m bench` runs them all and prints one table.

Nothing here is part of `make test`: timings live only in these scripts."""

import os

# The connector's info log lines would drown the table; its EMF metrics still reach the invoker.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

# Run order; a module that is not there yet is reported as missing, not as a failure.
MODULES = ("conversion", "readrecords", "scan", "requests", "spill", "cold_start", "extract", "reference_api")
MODULES += ("shared_budget",)  # concurrent splits with and without the shared API budget (issue 14)
MODULES += ("query_cost", "modellog_scale")  # GB-seconds and requests per million rows; one model's import (issue 23)
MODULES += ("pipelined",)  # one split with pages in flight vs the API bound (issue 23)
MODULES += ("predict",)  # predictions/s, SaaS requests per 1,000 predictions, peak RSS at 10k and 1M rows (issue 22)
