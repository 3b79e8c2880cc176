"""One split's reader as its own process (as a Lambda container is), for the shared-budget
benchmark and tests: builds the runtime from the environment, says `ready`, waits for the go
file, reads one entity to its end and prints each record's id, then `done <stats as JSON>`.

    python -m bench.split_reader ENTITY PAGE_SIZE GO_FILE

`budget_catalog` writes the demo catalog with a given rate budget and page size.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

DEMO_CATALOG = Path(__file__).resolve().parent.parent / "demo_saas" / "catalog.yaml"


def budget_catalog(directory: Path, name: str, *, rate: float, burst: int, page: int, **shared: object) -> Path:
    """The demo catalog with this rate budget (`shared`: rate_limit.shared keys) and `page`
    records per request (many requests from a small table)."""
    text = DEMO_CATALOG.read_text()
    extra = "".join(f"\n    {k}: {v}" for k, v in shared.items())
    budget = f"rate_limit:\n  requests_per_second: {rate}\n  burst: {burst}\n  max_concurrency: 2\n"
    budget += f"  shared:{extra}\n" if extra else ""
    text, found = re.subn(r"rate_limit:\n(?:  .*\n)+", budget, text, count=1)
    if found != 1:
        raise RuntimeError("the demo catalog has no rate_limit block")
    text = text.replace("default_page_size: 100", f"default_page_size: {page}")
    text = text.replace("max_page_size: 1000", f"max_page_size: {page}")
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


def main(entity_name: str, page_size: int, go_file: str) -> None:
    from saasbridge.runtime import Runtime

    runtime = Runtime.from_env()
    client = runtime.client()
    entity = runtime.catalog.entity(entity_name)
    print("ready", flush=True)
    while not os.path.exists(go_file):
        time.sleep(0.005)
    for page in client.list_pages(entity, {}, page_size=page_size):
        for record in page.records:
            print(record["id"], flush=True)
    bucket = client.rate_limiter.bucket
    shared = {"calls": bucket.table.calls, "local_tokens": bucket.local_tokens} if hasattr(bucket, "table") else {}
    print("done " + json.dumps({**client.stats.as_dict(), **shared}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
