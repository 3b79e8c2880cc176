"""What the benchmark modules share: a figure row, the API bound, a catalog with chosen rate
settings, the connector's environment for in-process runs, and an invoker that sums the
connector's own metrics (its EMF log lines) over every invocation; and the command line of a module
run on its own."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from saasbridge.drivers.lambda_invoker import InProcessInvoker

TENANT = "acme"
API_KEY = "demo-acme-key"
SPILL_BUCKET = "saasbridge-bench-spill"
REPO = Path(__file__).resolve().parent.parent
DEMO_CATALOG = REPO / "demo_saas" / "catalog.yaml"


def figure(
    name: str,
    value: float | int | None,
    unit: str = "",
    *,
    bound: float | int | None = None,
    bound_label: str = "",
    bound_unit: str | None = None,
    ratio: float | None = None,
    target: str = "",
    passed: bool | None = None,
    **details: Any,
) -> dict:
    """One row of the results table (and of the JSON): a figure with its bound or baseline."""
    return {
        "figure": name, "value": value, "unit": unit, "bound": bound, "bound_label": bound_label,
        "bound_unit": unit if bound_unit is None else bound_unit,
        "ratio": ratio, "target": target, "pass": passed, **details,
    }


def _number(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        text = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = f"{int(value):,}"
    return f"{text} {unit}".strip()


def markdown_table(rows: list[dict]) -> str:
    """The rows as the markdown results table (the README's and a module run on its own)."""
    lines = ["| figure | value | bound / baseline | ratio | target | pass |", "|---|---:|---:|---:|---|:-:|"]
    for r in rows:
        bound = _number(r.get("bound"), r.get("bound_unit", r.get("unit", ""))) if r.get("bound") is not None else "–"
        if r.get("bound_label") and r.get("bound") is not None:
            bound = f"{bound} ({r['bound_label']})"
        ratio = "–" if r.get("ratio") is None else f"{r['ratio']:.2f}"
        verdict = {True: "pass", False: "**FAIL**", None: "–"}[r.get("pass")]
        lines.append(f"| {r['figure']} | {_number(r.get('value'), r.get('unit', ''))} | {bound} | {ratio} | "
                     f"{r.get('target') or '–'} | {verdict} |")
    return "\n".join(lines)


def run_from_command_line(run: Callable[..., list[dict]], doc: str, *, quick_help: str) -> None:
    """A bench module run on its own: `--quick` (`quick_help`), its figures printed as a markdown table."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    print(markdown_table(run(quick=parser.parse_args().quick)))


def api_bound_rows_per_s(
    *, page_size: int, rate: float, burst: int, concurrency: int, latency_s: float, seconds: float
) -> float:
    """Rows/s the API allows: page size × min(rate limit (+ the burst spread over the run),
    concurrent cursors / latency). The burst term keeps the bound honest for short runs."""
    by_rate = rate + burst / max(seconds, 1e-9)
    by_latency = concurrency / latency_s if latency_s > 0 else float("inf")
    return page_size * min(by_rate, by_latency)


def catalog_with_budget(directory: str | os.PathLike, *, rate: float, concurrency: int,
                        scale: float = 1.0) -> Path:
    """The demo catalog with its rate_limit block set to what the benchmark's API enforces, and
    its split hints' `rows_per_day` (rows at scale 1) set for the API's `scale`, as an operator
    would describe the API they point it at."""
    text = DEMO_CATALOG.read_text()
    for key, value in (("requests_per_second", rate), ("burst", int(rate)), ("max_concurrency", concurrency)):
        text, count = re.subn(rf"(?m)^(  {key}:) *[0-9.]+", rf"\g<1> {value}", text)
        if count != 1:
            raise RuntimeError(f"the demo catalog has {count} '{key}' lines; expected one in rate_limit")
    text, count = re.subn(r"rows_per_day: *([0-9.]+)", lambda m: f"rows_per_day: {float(m[1]) * scale:.6g}", text)
    if count == 0:
        raise RuntimeError("the demo catalog's split hints have no rows_per_day to scale")
    path = Path(directory) / f"catalog-r{rate}-c{concurrency}-s{scale:g}.yaml"
    path.write_text(text)
    return path


@contextlib.contextmanager
def connector_environment(api_url: str, moto_url: str | None, catalog: Path | None = None,
                          **extra: str) -> Iterator[None]:
    """Point the in-process Athena connector at these servers (and forget its cached runtime)."""
    from athena_connector.handler import reset_container
    from saasbridge.local.env import temporary_env

    env = {
        "SAASBRIDGE_API_URL": api_url, "SAASBRIDGE_API_KEY": API_KEY,
        "SAASBRIDGE_CATALOG": os.fspath(catalog) if catalog else "",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "spill_bucket": SPILL_BUCKET if moto_url else "", "spill_prefix": "bench-spill",
        "AWS_ENDPOINT_URL": moto_url or "", "POWERTOOLS_METRICS_NAMESPACE": "saasbridge-bench",
        **extra,
    }
    with temporary_env(**{k: v or None for k, v in env.items()}):  # "" = unset it
        reset_container()
        try:
            yield
        finally:
            reset_container()


def s3_client(moto_url: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=moto_url, aws_access_key_id="testing",
                        aws_secret_access_key="testing", region_name="us-east-1")


def create_bucket(moto_url: str, bucket: str = SPILL_BUCKET) -> None:
    s3 = s3_client(moto_url)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)


class MeteredInvoker(InProcessInvoker):
    """A connector's handler in process (Athena's by default), summing every EMF metric it logs and
    the milliseconds Lambda would bill for its invocations (`BilledMs`: each rounded up to 1 ms)."""

    def __init__(self, function: str = "athena") -> None:
        super().__init__(function)
        self.totals: dict[str, float] = {}
        self._lock = threading.Lock()

    def invoke(self, payload: dict) -> Any:
        from saasbridge.local.engine.metrics import emf_metrics

        started = time.perf_counter()
        result = super().invoke(payload)
        found = {**emf_metrics(result.log_tail), "BilledMs": math.ceil((time.perf_counter() - started) * 1000)}
        with self._lock:
            for name, value in found.items():
                self.totals[name] = self.totals.get(name, 0) + value
        return result

    def reset(self) -> dict[str, float]:
        with self._lock:
            totals, self.totals = self.totals, {}
        return totals


def truth_records(db_path: str | os.PathLike, entity: str) -> list[dict]:
    """The entity's rows straight from the reference API's database (ground truth)."""
    from demo_saas.store import dump_records

    return dump_records(db_path, TENANT, entity)


def workdir(prefix: str) -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix=f"saasbridge-bench-{prefix}-")


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def bare_cursor_walk(api_url: str, entity: str, page_size: int) -> tuple[int, int, float]:
    """The API's own sequential speed: urllib3 + orjson walking the cursor, no conversion, no
    pacing (a 429 waits its Retry-After). Returns (rows, requests, seconds)."""
    import orjson
    import urllib3

    http = urllib3.PoolManager()
    rows = requests = 0
    cursor: str | None = None
    with Stopwatch() as watch:
        while True:
            fields = {"limit": str(page_size), **({"cursor": cursor} if cursor else {})}
            response = http.request("GET", f"{api_url}/v1/{entity}", fields=fields,
                                    headers={"Authorization": f"Bearer {API_KEY}"})
            requests += 1
            if response.status == 429:
                time.sleep(float(response.headers.get("Retry-After") or 1))
                continue
            if response.status != 200:
                raise RuntimeError(f"the reference API answered {response.status} to the bare walk")
            body = orjson.loads(response.data)
            rows += len(body["data"])
            cursor = body.get("next_cursor")
            if not cursor:
                break
    return rows, requests, watch.seconds
