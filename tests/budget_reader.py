"""A reader process for the shared-budget tests: builds the runtime from the environment (as a
Lambda container does), says `ready`, waits for the go file, reads one entity to its end and
prints each record's id, then `done <client stats as JSON>`.

    python -m tests.budget_reader ENTITY PAGE_SIZE GO_FILE
"""

from __future__ import annotations

import json
import os
import sys
import time


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
