"""Predict: predictions per second and SaaS requests per 1,000 predictions, real-time and batch
transform, against the SageMaker stand-in and the reference API (its rate limit as shipped, its own
request log counting the requests); and the peak RSS of a run streaming 10k and 1M rows (a fresh
child process each: scoring in process, so that the figure is the pipeline's, read → score → write;
and with a batch transform job on the stand-in, whose input objects, row map and outputs stream).

The model is the stand-in's hashing text embedder (saasbridge.local.sagemaker.text_model): real-time
as `--task embedding` of each contact's email, batch transform on its CSV contract over lead_score
(the score is the last dimension). The
"per-record" row is the same real-time run with the predictions entity's upsert declared one
record per request (`PUT /v1/predictions/{id}`), as the catalog had it before the batch upsert.

    python -m bench.predict [--quick]
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

from bench.support import API_KEY, REPO, Stopwatch, figure, run_from_command_line, workdir

API_RATE = 50.0  # the reference API's default rate limit, requests/s
ENTITY, TEXT, NUMBER = "contacts", "email", "lead_score"
BATCH_UPSERT = "{op: upsert, method: PUT, path: /v1/predictions, batch_size: 100"
PER_RECORD_UPSERT = '{op: upsert, method: PUT, path: "/v1/predictions/{id}", body_key: null}'


def saas_requests(log: Path, since: int) -> tuple[int, int]:
    """(all /v1 requests, prediction writes) in the API's request log after line `since`."""
    calls = [line.split()[3:5] for line in log.read_text().splitlines()[since:]]
    return len(calls), sum(c[0] == "PUT" and c[1].startswith("/v1/predictions") for c in calls)


def predict_run(env: dict[str, str], log: Path, args: list[str]) -> dict:
    """One `saasbridge predict` process: seconds, rows written, SaaS requests."""
    since = len(log.read_text().splitlines()) if log.exists() else 0
    with Stopwatch() as watch:
        done = subprocess.run([sys.executable, "-m", "saasbridge", "predict", ENTITY, "--no-progress", *args],
                              env=env, capture_output=True, text=True, timeout=3600)  # fmt: skip
    found = re.search(r"(\d+) written to", done.stdout)
    if not found:
        raise RuntimeError(f"predict failed: {done.stderr.strip()[-500:]}")
    total, writes = saas_requests(log, since)
    return {"seconds": watch.seconds, "written": int(found.group(1)), "requests": total, "writes": writes}


def throughput_rows(quick: bool) -> list[dict]:
    import boto3

    from saasbridge.local.processes import start_moto_server, start_reference_api
    from saasbridge.local.sagemaker import text_model
    from saasbridge.local.sagemaker.sdk_deploy import deploy_endpoint, upload_model
    from saasbridge.local.sagemaker.standin import start_sagemaker_standin

    scale = 0.1 if quick else 0.2  # contacts: 1,000 or 2,000 rows
    with workdir("predict") as tmp, start_moto_server() as moto, start_sagemaker_standin(moto.url) as standin, \
            start_reference_api(scale=scale, rate_limit=API_RATE, request_log=Path(tmp) / "requests.log") as api:
        aws = {"AWS_ENDPOINT_URL": standin.url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
        clients = {"endpoint_url": standin.url, "region_name": "us-east-1", "aws_access_key_id": "testing",
                   "aws_secret_access_key": "testing"}  # fmt: skip
        s3, sm = boto3.client("s3", **clients), boto3.client("sagemaker", **clients)
        s3.create_bucket(Bucket="bench-predict")
        model_dir = text_model.write_model_dir(Path(tmp) / "model", "embedding")
        deploy_endpoint("embedder", upload_model(model_dir, "s3://bench-predict/embedder/model.tar.gz", s3), sm,
                        program="inference.py")  # fmt: skip
        env = {**os.environ, **aws, "SAASBRIDGE_API_URL": api.url, "SAASBRIDGE_API_KEY": API_KEY,
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
        per_record = Path(tmp) / "per-record-catalog.yaml"
        catalog = (REPO / "demo_saas" / "catalog.yaml").read_text()
        line = next(ln for ln in catalog.splitlines() if BATCH_UPSERT in ln)
        per_record.write_text(catalog.replace(line, line.split("{")[0] + PER_RECORD_UPSERT))
        log = Path(tmp) / "requests.log"
        realtime = ["--endpoint", "embedder", "--task", "embedding", "--text-column", TEXT]
        runs = {
            "real-time": predict_run(env, log, [*realtime, "--model-name", "bench-rt"]),
            "batch transform": predict_run(env, log, ["--endpoint", "embedder", "--mode", "batch", "--features",
                                                      NUMBER, "--s3-uri", "s3://bench-predict/batch"]),
            "real-time, per-record upsert": predict_run({**env, "SAASBRIDGE_CATALOG": str(per_record)}, log,
                                                        [*realtime, "--model-name", "bench-rt-single"]),
        }  # fmt: skip
    rows = []
    for name, r in runs.items():
        per_1000 = 1000 * r["requests"] / max(1, r["written"])
        writes_per_1000 = 1000 * r["writes"] / max(1, r["written"])
        rows.append(figure(f"predict, {name}: predictions/s ({r['written']:,} rows, API {API_RATE:g} req/s)",
                           round(r["written"] / r["seconds"], 1), "rows/s", target="(informational)", **r))
        single = "per-record" in name
        rows.append(figure(f"predict, {name}: SaaS write requests per 1,000 predictions (all requests {per_1000:.1f})",
                           round(writes_per_1000, 1), "requests", bound=None if single else 12,
                           bound_label="" if single else "issue 22", target="(before: one PUT per prediction)"
                           if single else "≤ 12", passed=None if single else writes_per_1000 <= 12))  # fmt: skip
    return rows


# ---------------------------------------------------------------- memory: a child process per size


MEMORY_MODES = ("in-process scorer", "batch transform")
MEMORY_BUCKET, MEMORY_MODEL = "bench-memory", "embedder"


def memory_child(api_url: str, mode: str) -> dict:
    """Run predict over every event, scoring in process or with a transform job on the stand-in;
    this process's peak RSS."""
    import boto3

    from saasbridge.sagemaker.inference import Connection, PredictOptions, Scorer, TransformScorer, predict
    from saasbridge.sagemaker.inference.payload import Prediction

    class LineLength(Scorer):
        mode, model = "in-process", "bench-memory"

        def score(self, batch):
            return [Prediction(float(len(line))) for line in batch.body.splitlines()]

    scorer = LineLength() if mode == MEMORY_MODES[0] else \
        TransformScorer(boto3.Session(), MEMORY_MODEL, f"s3://{MEMORY_BUCKET}/transform", poll_seconds=0.5)  # fmt: skip
    with Stopwatch() as watch:
        result = predict(PredictOptions(entity="events", features=["duration_ms"], connection=Connection(api_url=api_url),
                                        progress=False), scorer)  # fmt: skip
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": result.read, "written": result.written, "seconds": watch.seconds, "peak_rss_mb": round(rss_mb, 1)}


def memory_rows(quick: bool, sizes: tuple[int, ...] | None = None) -> list[dict]:
    """Peak RSS per scoring mode at two sizes (the second ≤ 1.5× the first: memory is flat)."""
    import boto3

    from saasbridge.local.processes import start_moto_server, start_reference_api
    from saasbridge.local.sagemaker import text_model
    from saasbridge.local.sagemaker.sdk_deploy import deploy_endpoint, upload_model
    from saasbridge.local.sagemaker.standin import start_sagemaker_standin

    sizes = sizes or ((10_000, 100_000) if quick else (10_000, 1_000_000))
    found: dict[tuple[str, int], dict] = {}
    with workdir("predict-memory") as tmp, start_moto_server() as moto, start_sagemaker_standin(moto.url) as standin:
        clients = {"endpoint_url": standin.url, "region_name": "us-east-1", "aws_access_key_id": "testing",
                   "aws_secret_access_key": "testing"}  # fmt: skip
        s3 = boto3.client("s3", **clients)
        s3.create_bucket(Bucket=MEMORY_BUCKET)
        model_dir = text_model.write_model_dir(Path(tmp) / "model", "embedding")
        deploy_endpoint(MEMORY_MODEL, upload_model(model_dir, f"s3://{MEMORY_BUCKET}/model.tar.gz", s3),
                        boto3.client("sagemaker", **clients), program="inference.py")  # fmt: skip
        for rows in sizes:
            with start_reference_api(scale=rows / 100_000, rate_limit=0) as api:
                env = {**os.environ, "SAASBRIDGE_API_KEY": API_KEY, "AWS_ENDPOINT_URL": standin.url,
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "SAASBRIDGE_API_URL": api.url,
                       "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
                for mode in MEMORY_MODES:
                    done = subprocess.run([sys.executable, "-m", "bench.predict", "--child-memory", api.url, mode],
                                          env=env, capture_output=True, text=True, timeout=7200, cwd=REPO)  # fmt: skip
                    if done.returncode:
                        raise RuntimeError(f"memory child ({mode}) failed: {done.stderr.strip()[-500:]}")
                    found[mode, rows] = json.loads(done.stdout.strip().splitlines()[-1])
    return [_memory_figure(mode, found[mode, s], found[mode, sizes[0]] if s != sizes[0] else None, sizes[0])
            for mode in MEMORY_MODES for s in sizes]


def _memory_figure(mode: str, run: dict, baseline: dict | None, baseline_rows: int) -> dict:
    """One peak-RSS row; against the smaller size's figure when `baseline` is given."""
    ratio = run["peak_rss_mb"] / baseline["peak_rss_mb"] if baseline else None
    return figure(f"predict, peak RSS streaming {run['rows']:,} rows ({mode})", run["peak_rss_mb"], "MB",
                  bound=baseline["peak_rss_mb"] if baseline else None, bound_label=f"{baseline_rows:,} rows",
                  ratio=ratio, target="≤ 1.5× the 10k figure" if baseline else "(baseline)",
                  passed=ratio <= 1.5 if ratio is not None else None,
                  rows_per_s=round(run["rows"] / run["seconds"]), **run)  # fmt: skip


def run(quick: bool = False) -> list[dict]:
    return [*throughput_rows(quick), *memory_rows(quick)]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child-memory":
        print(json.dumps(memory_child(sys.argv[2], sys.argv[3])))
    else:
        run_from_command_line(run, __doc__, quick_help="1,000 predictions; 10k and 100k rows for memory")
