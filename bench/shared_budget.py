"""Concurrent splits with and without the shared API budget: 8 reader processes (as 8 Lambda
containers reading 8 splits) against the reference API at a low rate limit, once with each
process's own token bucket and once sharing one bucket through a DynamoDB table (the moto
server). The API logs every request's arrival; the figures are its 429s, the useful throughput,
the worst window over the catalog's budget, and what the table costs in DynamoDB requests.

    python -m bench.shared_budget [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.split_reader import budget_catalog
from bench.support import API_KEY, TENANT, figure, run_from_command_line, truth_records, workdir

ROOT = Path(__file__).resolve().parent.parent
API_RATE = 40  # the reference API's limit per tenant (its bucket holds as much)
RATE, BURST, LEASE = 36.0, 8, 3  # the catalog's budget, a little below the API's
PAGE = 5


def read_concurrently(count: int, env: dict[str, str], tmp: Path) -> tuple[float, list[dict], list[list[str]]]:
    """Start `count` readers, release them together; (seconds from go to the last done, their
    stats, their ids)."""
    go = tmp / f"go-{time.monotonic_ns()}"
    args = [sys.executable, "-m", "bench.split_reader", "accounts", str(PAGE), str(go)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
             for _ in range(count)]
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a reader did not start: {p.stderr.read()[-300:]}")
        time.sleep(1.2)  # the API's bucket is full again
        start = time.monotonic()
        go.touch()
        outputs = [p.communicate(timeout=300) for p in procs]
        seconds = time.monotonic() - start
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    stats, ids = [], []
    for (out, err), p in zip(outputs, procs, strict=True):
        lines = out.splitlines()
        if p.returncode != 0 or not lines or not lines[-1].startswith("done "):
            raise RuntimeError(f"a reader failed: {err[-300:]}")
        stats.append(json.loads(lines[-1][5:]))
        ids.append(lines[:-1])
    return seconds, stats, ids


def arrivals(log: Path, since: float) -> list[tuple[float, int]]:
    """(arrival time, status) of the tenant's requests since `since`, from the API's request log."""
    out = []
    for line in log.read_text().splitlines():
        at, tenant, status = line.split()[:3]
        if tenant == TENANT and float(at) >= since:
            out.append((float(at), int(status)))
    return sorted(out)


def worst_window_excess(times: list[float], rate: float, burst: float) -> float:
    """max over windows [t_i, t_j] of (requests in it) - (rate * width + burst); <= 0 keeps the budget."""
    return max((j - i + 1) - (rate * (times[j] - times[i]) + burst)
               for i in range(len(times)) for j in range(i, len(times)))


def run(quick: bool = False) -> list[dict]:
    from saasbridge.client.budget.admin import create_table
    from saasbridge.local.processes import start_moto_server, start_reference_api

    splits = 4 if quick else 8
    scale = 0.025 if quick else 0.05
    out: list[dict] = []
    with workdir("shared-budget") as tmp_name, start_moto_server() as moto:
        tmp = Path(tmp_name)
        log = tmp / "requests.log"
        with start_reference_api(scale=scale, rate_limit=API_RATE, request_log=log) as api:
            want = sorted(r["id"] for r in truth_records(api.db_path, "accounts"))  # type: ignore[arg-type]
            env = {k: v for k, v in os.environ.items() if not k.startswith("SAASBRIDGE_")}
            env.update(SAASBRIDGE_API_URL=api.url, SAASBRIDGE_API_KEY=API_KEY, AWS_ENDPOINT_URL=moto.url,
                       AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
            os.environ.update({k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                                                   "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
            create_table("bench-budget")
            runs = {}
            for mode in ("per-process buckets", "shared budget table"):
                shared = mode.startswith("shared")
                catalog = budget_catalog(tmp, mode.split()[0], rate=RATE, burst=BURST, page=PAGE,
                                         **({"table": "bench-budget", "lease": LEASE} if shared else {}))
                since = time.time()
                seconds, stats, ids = read_concurrently(splits, {**env, "SAASBRIDGE_CATALOG": str(catalog)}, tmp)
                seen = arrivals(log, since)
                exact = all(sorted(i) == want for i in ids)
                runs[mode] = {
                    "seconds": seconds, "requests": len(seen), "throttled": sum(s == 429 for _, s in seen),
                    "rows_per_s": len(want) * splits / seconds, "exact": exact,
                    "excess": worst_window_excess([t for t, _ in seen], RATE, BURST),
                    "dynamodb": sum(s.get("calls", {}).get("write", 0) + s.get("calls", {}).get("read", 0)
                                    for s in stats),
                    "wait_seconds": sum(s["wait_seconds"] for s in stats),
                }
    alone, shared = runs["per-process buckets"], runs["shared budget table"]
    label = f"{splits} concurrent splits, API {API_RATE} req/s, catalog {RATE:g} req/s burst {BURST}"
    out.append(figure(f"Shared budget, {label}: HTTP 429s", shared["throttled"], "429s", bound=alone["throttled"],
                      bound_label="per-process buckets", target="fewer than per-process, ≤ 3",
                      passed=shared["throttled"] <= 3 and shared["throttled"] <= alone["throttled"],
                      runs=runs))
    out.append(figure(f"Shared budget, {label}: rows read per second", round(shared["rows_per_s"], 1), "rows/s",
                      bound=round(alone["rows_per_s"], 1), bound_label="per-process buckets",
                      ratio=shared["rows_per_s"] / alone["rows_per_s"], target="(informational)",
                      passed=shared["exact"] and alone["exact"]))
    out.append(figure(f"Shared budget, {label}: worst window over rate × window + burst, at the API",
                      round(shared["excess"], 2), "requests", bound=round(alone["excess"], 2),
                      bound_label="per-process buckets", target="≤ 0", passed=shared["excess"] <= 0))
    per_request = shared["dynamodb"] / max(1, shared["requests"])
    out.append(figure(f"Shared budget: DynamoDB requests per API request (lease {LEASE})", round(per_request, 2),
                      "requests", target="(informational)", dynamodb_requests=shared["dynamodb"],
                      api_requests=shared["requests"]))
    return out


def main() -> None:
    run_from_command_line(run, __doc__, quick_help="4 splits and a smaller table")


if __name__ == "__main__":
    main()
