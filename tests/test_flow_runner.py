"""The local flow runner (saasbridge extract / writeback) against the reference API as a process and
the moto server (S3, Secrets Manager): output equals the source rows exactly, incremental runs add
up to every change exactly once, write-back round-trips, and throttling and deadlines lose nothing."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import urllib3

from appflow_connector import session
from conformance.cases import api_value
from demo_saas.store import dump_records
from saasbridge.cli import main
from saasbridge.drivers.lambda_invoker import EndpointInvoker, InProcessInvoker
from saasbridge.local.flow_runner import ExtractOptions, WritebackOptions, run_extract, run_writeback
from saasbridge.local.flow_runner.incremental import STATE_FILE
from tests.helpers import norm

ENTITIES = ["accounts", "contacts", "deals", "events", "predictions"]
pytestmark = pytest.mark.usefixtures("fresh_session")


# ---------------------------------------------------------------- ground truth helpers


def csv_value(cell: str, kind: str):
    """A CSV cell read back by the catalog type (the runner's CSV encoding, documented in writers.py)."""
    if cell == "":
        return None
    if kind in ("int32", "int64", "double", "decimal"):
        return Decimal(cell)
    if kind == "boolean":
        assert cell in ("true", "false"), cell
        return cell == "true"
    if kind in ("list", "struct", "map"):
        return json.loads(cell, parse_float=Decimal)
    return cell


def assert_same_rows(entity: str, got: list[dict], truth: list[dict]) -> None:
    spec = session.catalog().entity(entity)
    assert [r["id"] for r in got] == [t["id"] for t in truth]
    for mine, source in zip(got, truth, strict=True):
        assert set(mine) == {f.name for f in spec.fields}
        for f in spec.fields:
            assert norm(mine.get(f.name)) == norm(api_value(source, f.api_name)), (entity, mine["id"], f.name)


def s3_objects(moto_url: str, bucket: str, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=moto_url)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in sorted(keys)}


def blobs(paths: list[str]) -> list[bytes]:
    return [Path(p).read_bytes() for p in paths]


def read_files(paths_or_blobs: list[bytes], fmt: str, entity: str) -> list[dict]:
    rows: list[dict] = []
    kinds = {f.name: f.type.kind for f in session.catalog().entity(entity).fields}
    for blob in paths_or_blobs:
        if fmt == "parquet":
            rows += pq.read_table(pa.BufferReader(blob)).to_pylist()
        elif fmt == "jsonl":
            rows += [json.loads(line, parse_float=Decimal) for line in blob.decode().splitlines()]
        else:
            reader = csv.DictReader(io.StringIO(blob.decode()))
            rows += [{k: csv_value(v, kinds[k]) for k, v in row.items()} for row in reader]
    return rows


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def reference_api(tmp_path_factory):
    """A small reference API for this module's read-only tests (the session one is 5x larger)."""
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.03, seed=7, rate_limit=1000) as server:
        yield server


@pytest.fixture
def env(aws_env, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    monkeypatch.delenv("SAASBRIDGE_API_URL", raising=False)
    return aws_env


def bucket(moto_url: str, name: str) -> str:
    s3 = boto3.client("s3", endpoint_url=moto_url)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=name)
    return name


def patch(api_url: str, entity: str, rid: str, changes: dict) -> None:
    resp = urllib3.request(
        "PATCH", f"{api_url}/v1/{entity}/{rid}", body=json.dumps(changes),
        headers={"Authorization": "Bearer demo-acme-key", "Content-Type": "application/json"},
    )  # fmt: skip
    assert resp.status == 200, resp.data


# ---------------------------------------------------------------- full extracts


@pytest.mark.parametrize("entity", ENTITIES)
def test_full_extract_to_s3_and_local_dir_equals_source_rows(entity, reference_api, env, tmp_path):
    truth = dump_records(reference_api.db_path, "acme", entity)
    b = bucket(env.url, "flow-runner-full")
    result = run_extract(
        ExtractOptions(
            entity, f"s3://{b}/landing", api_url=reference_api.url, max_results=333, rows_per_file=250
        )
    )
    assert result.records == len(truth)
    prefix = f"landing/saasbridge-{entity}/{result.execution_id}/"
    blobs = s3_objects(env.url, b, prefix)
    assert sorted(blobs) == sorted(u.removeprefix(f"s3://{b}/") for u in result.files)
    assert len(blobs) == max(
        1, -(-len(truth) // 250)
    )  # rotated as asked, nothing else in the execution folder
    assert result.bytes == sum(len(v) for v in blobs.values())
    assert_same_rows(entity, read_files(list(blobs.values()), "parquet", entity), truth)
    for fmt in ("jsonl", "csv")[ENTITIES.index(entity) % 2 :][:1] if entity == "events" else ("jsonl", "csv"):
        local = run_extract(ExtractOptions(entity, str(tmp_path), api_url=reference_api.url, format=fmt))
        files = sorted((tmp_path / f"saasbridge-{entity}" / local.execution_id).iterdir())
        assert [str(p) for p in files] == local.files
        assert_same_rows(entity, read_files([p.read_bytes() for p in files], fmt, entity), truth)


def test_filter_and_field_selection(reference_api, env, tmp_path):
    truth = dump_records(reference_api.db_path, "acme", "accounts")
    result = run_extract(
        ExtractOptions(
            "accounts", str(tmp_path), api_url=reference_api.url, format="jsonl",
            where="country in ('DE', 'FR') and employees > 20 limit 11", fields=["id", "country", "employees"],
        )
    )  # fmt: skip
    got = read_files(blobs(result.files), "jsonl", "accounts")
    expected = [t for t in truth if t["country"] in ("DE", "FR") and t["employees"] > 20][:11]
    assert len(expected) == 11
    assert got == [{"id": t["id"], "country": t["country"], "employees": t["employees"]} for t in expected]


def test_extract_through_the_local_invoke_endpoint(reference_api, env, tmp_path):
    from saasbridge.local.lambda_endpoint import LambdaEndpoint

    truth = dump_records(reference_api.db_path, "acme", "deals")
    with LambdaEndpoint() as endpoint:
        invoker = EndpointInvoker(endpoint.url, "saasbridge-appflow")
        result = run_extract(
            ExtractOptions(
                "deals", str(tmp_path), api_url=reference_api.url, invoker=invoker, max_results=400
            )
        )
    assert invoker.invocations == result.invocations >= 2 + -(-len(truth) // 400)
    assert result.api_requests is None  # the connector runs elsewhere: not visible to the runner
    assert_same_rows("deals", read_files(blobs(result.files), "parquet", "deals"), truth)


# ---------------------------------------------------------------- incremental


def test_incremental_runs_deliver_every_change_exactly_once(env, tmp_path):
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.02, seed=11, rate_limit=1000, db_path=tmp_path / "api.sqlite") as api:
        out = tmp_path / "out"

        def run():
            r = run_extract(
                ExtractOptions(
                    "accounts", str(out), incremental=True, api_url=api.url, format="jsonl", flow_name="acc"
                )
            )
            rows = read_files(blobs(r.files), "jsonl", "accounts")
            return r, rows

        first, rows = run()
        assert_same_rows("accounts", rows, dump_records(api.db_path, "acme", "accounts"))
        assert first.expression.startswith("updated_at <= ")
        changed = ["acc_000003", "acc_000011", "acc_000029"]
        for i, rid in enumerate(changed):
            patch(api.url, "accounts", rid, {"employees": 7000 + i})
        second, rows = run()
        assert second.expression.startswith("updated_at between ")
        truth = {t["id"]: t for t in dump_records(api.db_path, "acme", "accounts")}
        assert_same_rows("accounts", rows, [truth[r] for r in changed])
        # No change since: the overlap (lookback) brings the three back from the API, and the state
        # recognises them as delivered, so nothing is delivered twice.
        third, rows = run()
        assert rows == [] and third.records == 0
        assert third.skipped_already_delivered == len(changed)
        patch(api.url, "accounts", "acc_000011", {"employees": 1})  # a new version of a seen record
        fourth, rows = run()
        assert [r["id"] for r in rows] == ["acc_000011"] and rows[0]["employees"] == 1
        state = json.loads((out / "acc" / STATE_FILE).read_text())
        assert state["last_execution_id"] == fourth.execution_id and state["watermark"]


def test_incremental_state_lives_in_s3_next_to_the_output(reference_api, env):
    b = bucket(env.url, "flow-runner-state")
    opts = dict(incremental=True, api_url=reference_api.url, flow_name="ev", format="csv")
    first = run_extract(ExtractOptions("events", f"s3://{b}/p", **opts))
    assert first.records == len(dump_records(reference_api.db_path, "acme", "events"))
    assert first.state_uri == f"s3://{b}/p/ev/{STATE_FILE}"
    second = run_extract(ExtractOptions("events", f"s3://{b}/p", **opts))
    assert second.records == 0 and second.expression.startswith("occurred_at between")


# ---------------------------------------------------------------- write-back


def test_writeback_then_read_back_round_trips(env, tmp_path, capsys):
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.02, seed=13, rate_limit=1000, db_path=tmp_path / "api.sqlite") as api:
        rows = [
            {"id": f"pred_wb_{i:03d}", "entity_type": "account", "entity_id": f"acc_{i:06d}", "model": "churn-v1",
             "score": Decimal(i) / 8, "label": "hot" if i % 2 else ""}
            for i in range(1, 24)
        ]  # fmt: skip
        path = tmp_path / "scores.csv"
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        rc = main(["writeback", "predictions", "--from", str(path), "--operation", "upsert", "--batch-size", "5",
                   "--api-url", api.url, "--no-progress"])  # fmt: skip
        out = capsys.readouterr()
        assert rc == 0, out.err
        assert "wrote 23 of 23 rows" in out.out and "5 batches" in out.out
        stored = {t["id"]: t for t in dump_records(api.db_path, "acme", "predictions")}
        for r in rows:
            got = stored[r["id"]]
            assert Decimal(str(got["score"])) == r["score"] and got["label"] == (r["label"] or None)
            assert (got["entity_id"], got["model"]) == (r["entity_id"], r["model"])
        # read back through the runner too
        back = run_extract(
            ExtractOptions("predictions", str(tmp_path / "back"), api_url=api.url, where="model = 'churn-v1'")
        )
        got = read_files(blobs(back.files), "parquet", "predictions")
        assert sorted(g["id"] for g in got) == [r["id"] for r in rows]


def test_writeback_reports_every_failed_row_and_exits_non_zero(env, tmp_path, capsys):
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.02, seed=17, rate_limit=1000, db_path=tmp_path / "api.sqlite") as api:
        path = tmp_path / "scores.jsonl"
        good = [
            {"entity_type": "account", "entity_id": f"acc_{i:06d}", "model": "m", "score": i}
            for i in range(4)
        ]
        bad = {"entity_type": "account", "model": "m"}  # entity_id and score missing
        lines = [good[0], bad, good[1], good[2], bad, good[3]]
        path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
        before = len(dump_records(api.db_path, "acme", "predictions"))
        result = run_writeback(
            WritebackOptions("predictions", str(path), batch_size=4, api_url=api.url, progress=False)
        )
        assert [f.row for f in result.failures] == [2, 5]
        assert result.succeeded == 4 and result.rows == 6
        assert len(dump_records(api.db_path, "acme", "predictions")) == before + 4
        rc = main(["writeback", "predictions", "--from", str(path), "--api-url", api.url, "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 1
        assert [line.split(":")[0] for line in err.strip().splitlines()] == ["row 2", "row 5"]


def test_writeback_from_parquet_in_s3(env, tmp_path):
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.02, seed=19, rate_limit=1000, db_path=tmp_path / "api.sqlite") as api:
        table = pa.table({"id": ["pred_pq_1", "pred_pq_2"], "entity_type": ["contact"] * 2,
                          "entity_id": ["con_000001", "con_000002"], "model": ["pq"] * 2, "score": [0.25, 0.75]})  # fmt: skip
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        b = bucket(env.url, "flow-runner-writeback")
        boto3.client("s3", endpoint_url=env.url).put_object(
            Bucket=b, Key="in/s.parquet", Body=sink.getvalue().to_pybytes()
        )
        result = run_writeback(
            WritebackOptions(
                "predictions", f"s3://{b}/in/s.parquet", operation="upsert", api_url=api.url, progress=False
            )
        )
        assert result.failures == [] and result.succeeded == 2
        stored = {t["id"]: t for t in dump_records(api.db_path, "acme", "predictions")}
        assert [stored[i]["score"] for i in ("pred_pq_1", "pred_pq_2")] == [0.25, 0.75]


# ---------------------------------------------------------------- throttling and deadlines


def test_throttled_extract_loses_nothing(env, tmp_path):
    """Other clients of the same tenant drain the API's rate budget while the extract runs."""
    import threading
    import time

    from saasbridge.local.processes import start_reference_api

    def throttled() -> int:
        return sum(c.stats.throttled for c in list(session._clients.values()))

    with start_reference_api(scale=0.01, seed=23, rate_limit=4, db_path=tmp_path / "api.sqlite") as api:
        stop = threading.Event()

        def drain():
            http = urllib3.PoolManager()
            deadline = time.monotonic() + 3
            while not stop.is_set() and throttled() < 3 and time.monotonic() < deadline:
                http.request(
                    "GET", f"{api.url}/v1/accounts?limit=1", headers={"Authorization": "Bearer demo-acme-key"}
                )

        drainers = [threading.Thread(target=drain, daemon=True) for _ in range(4)]
        for t in drainers:
            t.start()
        try:
            result = run_extract(
                ExtractOptions(
                    "contacts",
                    str(tmp_path / "out"),
                    api_url=api.url,
                    page_size=25,
                    max_results=35,
                    format="jsonl",
                )
            )
        finally:
            stop.set()
            for t in drainers:
                t.join()
        # The limit was binding: the API answered 429s, or the client paced itself on X-RateLimit headers.
        stats = [c.stats for c in session._clients.values()]
        assert sum(st.throttled for st in stats) > 0 or sum(st.wait_seconds for st in stats) > 0.5
        rows = read_files(blobs(result.files), "jsonl", "contacts")
        assert_same_rows("contacts", rows, dump_records(api.db_path, "acme", "contacts"))


def test_short_lambda_deadline_pages_early_and_loses_nothing(env, tmp_path):
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(
        scale=0.02, seed=29, rate_limit=1000, latency_ms=300, db_path=tmp_path / "api.sqlite"
    ) as api:
        truth = dump_records(api.db_path, "acme", "accounts")
        # 6 s of Lambda time leaves the connector 3 s per QueryData (3 s reserve). A request is started
        # only with its expected time + 0.25 s left, and none takes under 0.3 s, so one call holds at most
        # 9 requests: 20 pages need at least 3 calls. A request slowed by load has 2.45 s to spare (with
        # 1.5 s per call, 0.95 s: a slower one left the connector no room to start any request again).
        invoker = InProcessInvoker("appflow", timeout_seconds=6)
        result = run_extract(
            ExtractOptions(
                "accounts", str(tmp_path / "out"), api_url=api.url, page_size=2, invoker=invoker
            )
        )
        pages = -(-len(truth) // 2)
        assert pages >= 20
        assert result.api_requests >= pages
        # DescribeConnectorConfiguration + DescribeEntity + QueryData calls: maxResults (1000) alone would
        # need a single QueryData; the deadline made the connector return early with a nextToken.
        assert result.invocations - 2 >= 3
        rows = read_files(blobs(result.files), "parquet", "accounts")
        assert_same_rows("accounts", rows, truth)


def test_a_deadline_no_api_page_fits_stops_with_a_clear_error(env, tmp_path):
    """Each QueryData may spend 0.5 s (3.2 s of Lambda time less the 3 s reserve; 0.5 s is the
    connector's floor), every API page takes 0.8 s: the connector answers with no records and the same
    nextToken; the runner stops after a bounded number of such calls (it used to loop until killed)."""
    from saasbridge.drivers.appflow import MAX_STALLED_CALLS, FlowRunError
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.01, seed=31, rate_limit=1000, latency_ms=800) as api:
        invoker = InProcessInvoker("appflow", timeout_seconds=3.2)
        with pytest.raises(FlowRunError, match="makes no progress"):
            run_extract(ExtractOptions("accounts", str(tmp_path / "out"), api_url=api.url, invoker=invoker))
    # DescribeConnectorConfiguration, DescribeEntity, the first QueryData, then the stalled ones
    assert invoker.invocations <= 3 + MAX_STALLED_CALLS
    assert not list((tmp_path / "out").rglob("*.parquet"))  # no partial output left behind


def api_requests() -> int:
    """SaaS API requests the in-process connector has sent so far (a refused connection included)."""
    return sum(c.stats.requests for c in list(session._clients.values()))


def test_api_down_ends_the_extract_after_the_connectors_own_retries(env, tmp_path, capsys):
    """The API stopped: the failing call costs the connector's attempts once (catalog retry.max_attempts),
    never re-sent by the flow run on top (it was 8 calls × 6 requests, ~50 s); the error is one line."""
    from saasbridge.local.processes import start_reference_api

    api = start_reference_api(scale=0.01, seed=37, rate_limit=1000)
    url = api.url
    try:
        argv = ["extract", "accounts", "--api-url", url, "--no-progress", "--profile", "down"]
        assert main(argv + ["--to", str(tmp_path / "up")]) == 0  # the profile is validated while the API is up
    finally:
        api.stop()  # nothing listens on the port any more
    capsys.readouterr()
    attempts = session.catalog().retry.max_attempts
    for profile, call in (("down", "QueryData"), ("down-new", "ValidateCredentials")):
        before = api_requests()
        rc = main(["extract", "accounts", "--api-url", url, "--no-progress", "--profile", profile,
                   "--to", str(tmp_path / profile)])  # fmt: skip
        err = capsys.readouterr().err
        assert rc == 1 and len(err.strip().splitlines()) == 1, err
        assert f"{call} failed: ServiceUnavailable: cannot connect" in err
        assert api_requests() - before == attempts, profile
        assert not list((tmp_path / profile).rglob("*.parquet"))


def test_a_flaky_api_is_retried_by_the_connector_and_extracts_exactly(env, tmp_path):
    """A third of the requests fail (500, 503, dropped connection): the connector's retries absorb them
    and the flow run never has to send a call again."""
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.02, seed=41, rate_limit=1000, fail_rate=0.3, db_path=tmp_path / "api.sqlite") as api:
        result = run_extract(ExtractOptions("accounts", str(tmp_path / "out"), api_url=api.url, page_size=5,
                                            format="jsonl"))  # fmt: skip
        connector_retries = sum(c.stats.retries for c in list(session._clients.values()))
        truth = dump_records(api.db_path, "acme", "accounts")
    assert connector_retries > 0 and result.retries == 0  # the faults were met, and absorbed below the run
    assert_same_rows("accounts", read_files(blobs(result.files), "jsonl", "accounts"), truth)


# ---------------------------------------------------------------- CLI errors


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["extract", "nosuch", "--to", "{tmp}"], "Unknown entity"),
        (["extract", "accounts", "--to", "{tmp}", "--fields", "id,nope"], "nope"),
        (["extract", "accounts", "--to", "{tmp}", "--where", "country = = 'DE'"], "InvalidArgument"),
        (["extract", "accounts", "--to", "s3://no-such-bucket-here/x"], "NoSuchBucket"),
        (["extract", "accounts", "--to", "{tmp}", "--for-training", "name"], "numeric or boolean"),
        (
            ["extract", "predictions", "--to", "{tmp}", "--incremental", "--where", "x limit 10 and"],
            "InvalidArgument",
        ),
        (["writeback", "accounts", "--from", "{tmp}/x.csv"], "no such file"),
        (["writeback", "predictions", "--from", "{tmp}/bad.txt"], "unknown file type"),
    ],
)
def test_cli_errors_are_one_line_with_non_zero_exit(argv, fragment, reference_api, env, tmp_path, capsys):
    (tmp_path / "bad.txt").write_text("x")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + [
        "--api-url",
        reference_api.url,
        "--no-progress",
    ]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc != 0
    assert len(err.strip().splitlines()) == 1 and err.startswith("saasbridge: error: "), err
    assert fragment in err
    assert "demo-acme-key" not in err


def test_missing_credentials_is_a_clear_error(reference_api, env, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SAASBRIDGE_API_KEY")
    rc = main(
        ["extract", "accounts", "--to", str(tmp_path), "--api-url", reference_api.url, "--profile", "nokey"]
    )
    err = capsys.readouterr().err
    assert rc == 1 and "SAASBRIDGE_API_KEY" in err and len(err.strip().splitlines()) == 1


def test_demo_tour_section_extracts_and_writes_back(reference_api, moto_server, capsys):
    from saasbridge.local.tour import TourContext, appflow

    before = {t["id"] for t in dump_records(reference_api.db_path, "acme", "predictions")}
    appflow.run(
        TourContext(reference_api.url, "demo-acme-key", moto_server.url, db_path=reference_api.db_path)
    )
    out = capsys.readouterr().out
    assert "extracted " in out and f"wrote {appflow.SCORED_CONTACTS} of {appflow.SCORED_CONTACTS} rows" in out
    written = {t["id"] for t in dump_records(reference_api.db_path, "acme", "predictions")} - before
    assert len(written) == appflow.SCORED_CONTACTS
