"""`saasbridge predict`: a real model (examples/train.py on an extract of the reference API) scores
the reference API's rows; the predictions written into the SaaS are compared, through the API, with
the model's own predictions computed in this process for the same rows (every row exactly once)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import requests

from demo_saas.store import dump_records
from saasbridge.cli import main
from tests.sagemaker_assets import extract_and_train

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ["employees", "annual_revenue"]
WHERE = "country in ('DE', 'FR', 'US')"


pytestmark = pytest.mark.usefixtures("fresh_session")  # the connector's cached catalog, per test


@pytest.fixture(scope="module")
def api():
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.05, seed=16, rate_limit=2000) as server:
        yield server


@pytest.fixture
def env(aws_env, api, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    monkeypatch.setenv("SAASBRIDGE_API_URL", api.url)
    return aws_env


@pytest.fixture(scope="module")
def trained(api, moto_server, tmp_path_factory):
    """examples/train.py fitted on an extract of accounts (target is_active), as SageMaker runs it."""
    tmp = tmp_path_factory.mktemp("trained")
    run_dir, models = extract_and_train(api.url, moto_server.url, tmp, FEATURES, {"model": []})
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [c["name"] for c in manifest["columns"]][1:] == FEATURES  # target first, then the features
    model_dir = models["model"]
    from saasbridge.local.sagemaker.model_archive import pack_model_dir

    archive = tmp / "model.tar.gz"
    archive.write_bytes(pack_model_dir(model_dir))
    return model_dir, archive


def expected_scores(api, model_dir: Path, where=lambda r: r["country"] in ("DE", "FR", "US")) -> dict[str, float]:
    """The model's own predictions (its joblib pipeline, trusted: we trained it) for the rows the
    filter selects, computed from the reference API's own data."""
    import joblib

    rows = [r for r in dump_records(api.db_path, "acme", "accounts") if where(r)]
    x = np.array([[np.nan if r[f] is None else float(r[f]) for f in FEATURES] for r in rows])
    scores = joblib.load(model_dir / "model.joblib").predict_proba(x)[:, 1]
    return {r["id"]: float(s) for r, s in zip(rows, scores, strict=True)}


def written(api, model: str) -> list[dict]:
    """Every prediction of `model`, read back through the reference API."""
    out, cursor = [], None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{api.url}/v1/predictions", params=params, timeout=30,
                            headers={"Authorization": "Bearer demo-acme-key"}).json()  # fmt: skip
        out.extend(p for p in page["data"] if p["model"] == model)
        cursor = page.get("next_cursor")
        if not cursor:
            return out


def assert_exactly(api, model: str, expected: dict[str, float], *, atol: float, endpoint: str | None = None):
    got = written(api, model)
    ids = [p["entity_id"] for p in got]
    assert len(ids) == len(set(ids)), "a row was predicted twice"
    assert set(ids) == set(expected), "rows missing or extra"
    for p in got:
        assert p["entity_type"] == "accounts" and p["endpoint"] == endpoint and p["predicted_at"]
        assert abs(p["score"] - expected[p["entity_id"]]) <= atol, p


def test_imported_onnx_model_scores_in_process_and_a_rerun_does_not_duplicate(api, env, trained, tmp_path, capsys):
    model_dir, archive = trained
    assert main(["models", "import", str(archive), "--to", str(tmp_path / "store"), "--name", "churn-onnx"]) == 0
    args = ["predict", "accounts", "--model", str(tmp_path / "store" / "churn-onnx"), "--features",
            ",".join(FEATURES), "--where", WHERE, "--no-progress"]  # fmt: skip
    expected = expected_scores(api, model_dir)
    assert main(args) == 0
    out = capsys.readouterr().out
    n = len(expected)
    assert f"{n} rows read, {n} predicted, {n} written to predictions, 0 failed" in out
    assert_exactly(api, "churn-onnx", expected, atol=1e-6)
    before = {p["id"]: p for p in written(api, "churn-onnx")}
    assert main(args) == 0
    after = {p["id"]: p for p in written(api, "churn-onnx")}
    assert after.keys() == before.keys()
    assert all(after[k]["score"] == before[k]["score"] for k in after)


# ---------------------------------------------------------------- against the SageMaker stand-in

@pytest.fixture(scope="module")
def deployed(trained, sagemaker_standin):
    """The trained model in the S3 stand-in, served by a real-time and an asynchronous endpoint, and
    registered once more as the model `churn-batch` for transform jobs."""
    import boto3

    from saasbridge.local.sagemaker.sdk_deploy import EXECUTION_ROLE, deploy_endpoint, upload_model

    model_dir, _ = trained
    aws = {"endpoint_url": sagemaker_standin.url, "region_name": "us-east-1", "aws_access_key_id": "testing",
           "aws_secret_access_key": "testing"}  # fmt: skip
    s3, sm = boto3.client("s3", **aws), boto3.client("sagemaker", **aws)
    s3.create_bucket(Bucket="predict-test")
    url = upload_model(model_dir, "s3://predict-test/churn/model.tar.gz", s3)
    deploy_endpoint("churn-rt", url, sm)
    deploy_endpoint("churn-async", url, sm, async_output="s3://predict-test/async-out")
    container = sm.describe_model(ModelName="churn-rt")["PrimaryContainer"]
    sm.create_model(ModelName="churn-batch", PrimaryContainer=container, ExecutionRoleArn=EXECUTION_ROLE)
    return model_dir


@pytest.fixture
def standin_env(env, sagemaker_env):
    """`env`, with boto3 pointed at the SageMaker stand-in; injected faults cleared afterwards."""
    yield sagemaker_env
    from saasbridge.local.sagemaker.standin import clear_faults

    clear_faults(sagemaker_env.url)


def predict_args(*extra: str) -> list[str]:
    return ["predict", "accounts", "--features", ",".join(FEATURES), "--where", WHERE, "--no-progress", *extra]


def test_realtime_endpoint_predictions_equal_the_models_own(api, deployed, standin_env, capsys):
    expected = expected_scores(api, deployed)
    assert main(predict_args("--endpoint", "churn-rt", "--max-rows-per-request", "7", "--concurrency", "3")) == 0
    n = len(expected)
    assert f"{n} rows read, {n} predicted, {n} written to predictions, 0 failed" in capsys.readouterr().out
    assert_exactly(api, "churn-rt", expected, atol=0, endpoint="churn-rt")  # the model's name, from the endpoint


def test_throttling_is_retried_and_a_failing_batch_loses_no_other_row(api, deployed, standin_env, capsys):
    from saasbridge.local.sagemaker.standin import inject_fault

    expected = expected_scores(api, deployed)
    n, size = len(expected), 5
    inject_fault(standin_env.url, "throttle", count=4, endpoint="churn-rt")
    args = predict_args("--endpoint", "churn-rt", "--max-rows-per-request", str(size), "--model-name", "churn-faults")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{n} rows read, {n} predicted, {n} written to predictions, 0 failed, 4 retried requests" in out
    assert_exactly(api, "churn-faults", expected, atol=0, endpoint="churn-rt")

    inject_fault(standin_env.url, "model_error", count=1, endpoint="churn-rt")
    args = predict_args("--endpoint", "churn-rt", "--max-rows-per-request", str(size), "--model-name", "churn-one-bad")
    assert main(args) == 1
    captured = capsys.readouterr()
    assert f"{n} rows read, {n - size} predicted, {n - size} written to predictions, {size} failed" in captured.out
    assert f"{size} rows failed: ModelError" in captured.err
    got = written(api, "churn-one-bad")
    assert len(got) == n - size and len({p["entity_id"] for p in got}) == n - size  # every other row, once
    assert all(p["score"] == expected[p["entity_id"]] for p in got)
    assert main(args) == 0  # the re-run fills the gap and duplicates nothing
    assert_exactly(api, "churn-one-bad", expected, atol=0, endpoint="churn-rt")


def test_async_endpoint(api, deployed, standin_env, capsys):
    expected = expected_scores(api, deployed)
    args = predict_args("--endpoint", "churn-async", "--mode", "async", "--s3-uri", "s3://predict-test/async-in",
                        "--max-rows-per-request", "10")  # fmt: skip
    assert main(args) == 0
    n = len(expected)
    assert f"async: accounts scored with endpoint churn-async (model churn-async): {n} rows read, {n} predicted, {n} written" in capsys.readouterr().out
    assert_exactly(api, "churn-async", expected, atol=0, endpoint="churn-async")


def test_batch_transform(api, deployed, standin_env, capsys):
    import boto3

    expected = expected_scores(api, deployed)
    args = predict_args("--endpoint", "churn-rt", "--mode", "batch", "--model-name", "churn-batch", "--s3-uri",
                        "s3://predict-test/batch")  # fmt: skip
    assert main(args) == 0
    n = len(expected)
    assert f"{n} rows read, {n} predicted, {n} written" in capsys.readouterr().out
    assert_exactly(api, "churn-batch", expected, atol=0, endpoint="churn-rt")
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="predict-test", Prefix="batch/")["Contents"]]
    inputs = [k for k in keys if k.endswith(".csv") and "/input/" in k]
    assert inputs and all(any(k.endswith(i.rsplit("/", 1)[1] + ".out") for k in keys) for i in inputs)
    first = s3.get_object(Bucket="predict-test", Key=inputs[0])["Body"].read().decode().splitlines()[0]
    assert first.split(",")[0] in expected  # the id travels with the row, the model never sees it


def test_scoring_api_with_an_api_key(api, deployed, standin_env, monkeypatch, capsys):
    from saasbridge.local.scoring_gateway import ScoringApiServer

    expected = expected_scores(api, deployed)
    with ScoringApiServer(api_key="local-scoring-key", allowed_endpoints="churn-*") as scoring:
        args = predict_args("--endpoint", "churn-rt", "--scoring-url", scoring.url, "--model-name", "churn-api",
                            "--max-rows-per-request", "9")  # fmt: skip
        monkeypatch.setenv("SAASBRIDGE_SCORING_API_KEY", "wrong")
        assert main(args) == 1
        assert "HTTP 403" in capsys.readouterr().err
        assert written(api, "churn-api") == []
        monkeypatch.setenv("SAASBRIDGE_SCORING_API_KEY", "local-scoring-key")
        assert main(args) == 0
    assert "local-scoring-key" not in capsys.readouterr().out
    assert_exactly(api, "churn-api", expected, atol=0, endpoint="churn-rt")


def test_athena_external_function_calls_the_endpoint(api, deployed, standin_env, fresh_athena):
    from saasbridge.local.engine import Engine, run_sql

    expected = expected_scores(api, deployed)
    sql = ("USING EXTERNAL FUNCTION predict_churn(employees DOUBLE, revenue DOUBLE) RETURNS DOUBLE "
           "SAGEMAKER 'churn-rt' "
           "SELECT id, predict_churn(employees, annual_revenue) AS score FROM crm.accounts "
           "WHERE country IN ('DE', 'FR', 'US') ORDER BY id")  # fmt: skip
    result = run_sql(Engine(), sql)
    rows = result.table.to_pylist()
    assert [r["id"] for r in rows] == sorted(expected)
    assert all(r["score"] == expected[r["id"]] for r in rows)


def test_notebook_athena_ml_cell_runs_against_the_standin(api, deployed, standin_env, fresh_athena):
    """The notebook's section 4 local cell, as written, scores the federated table with the endpoint."""
    notebook = json.loads((ROOT / "examples" / "sagemaker_notebook.ipynb").read_text())
    cells, in_section = [], False
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            in_section = source.startswith("## 4.")
        elif in_section:
            cells.append(source)
    assert len(cells) == 1
    scope: dict = {}
    exec(compile("import saasbridge\n" + cells[0], "notebook", "exec"), scope)
    expected = expected_scores(api, deployed, where=lambda r: r["country"] == "DE")
    got = {r["id"]: r["churn_score"] for r in scope["scored"].to_pylist()}
    assert got == expected


def test_cross_account_role_with_external_id(api, deployed, standin_env, monkeypatch, capsys, caplog):
    """--role-arn/--external-id: the runtime calls run with the assumed role's credentials (STS of
    the stand-in), and neither those nor the base credentials appear in any output."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIABASECREDENTIAL01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "base-secret-never-printed")
    expected = expected_scores(api, deployed)
    args = predict_args("--endpoint", "churn-rt", "--model-name", "churn-xacct", "--role-arn",
                        "arn:aws:iam::123456789012:role/customer-scoring", "--external-id", "saas-tenant-acme")  # fmt: skip
    assert main(args) == 0
    assert_exactly(api, "churn-xacct", expected, atol=0, endpoint="churn-rt")
    # A role of another account sees that account's endpoints, not this one: the calls carry the role,
    # and the missing endpoint is refused before any row is read.
    other = [a.replace("123456789012", "210987654321") for a in args]
    assert main(other) == 1
    seen = capsys.readouterr()
    assert "endpoint churn-rt not found in region us-east-1" in seen.err and seen.out.count("rows read") == 1
    from saasbridge.sagemaker.credentials import AwsAccess, aws_session

    assumed = aws_session(AwsAccess(role_arn="arn:aws:iam::123456789012:role/customer-scoring",
                                    external_id="saas-tenant-acme")).get_credentials().get_frozen_credentials()  # fmt: skip
    assert assumed.access_key != "AKIABASECREDENTIAL01"  # really assumed
    text = seen.out + seen.err + caplog.text
    for secret in ("base-secret-never-printed", assumed.secret_key, assumed.token, "saas-tenant-acme"):
        assert secret not in text


def test_json_lines_input(api, deployed, standin_env, capsys):
    expected = expected_scores(api, deployed)
    args = predict_args("--endpoint", "churn-rt", "--content-type", "application/jsonlines", "--model-name",
                        "churn-jsonl", "--max-rows-per-request", "8")  # fmt: skip
    assert main(args) == 0
    assert_exactly(api, "churn-jsonl", expected, atol=0, endpoint="churn-rt")


def test_scoring_api_with_iam_auth_signs_requests(api, deployed, standin_env, monkeypatch, capsys):
    from saasbridge.local.scoring_gateway import ScoringApiServer

    expected = expected_scores(api, deployed)
    monkeypatch.delenv("SAASBRIDGE_SCORING_API_KEY", raising=False)
    with ScoringApiServer(iam_access_keys={"testing"}, allowed_endpoints="churn-rt") as scoring:
        args = predict_args("--endpoint", "churn-rt", "--scoring-url", scoring.url, "--model-name", "churn-iam")
        assert main(args) == 0
        assert scoring.requests >= 1
    assert_exactly(api, "churn-iam", expected, atol=0, endpoint="churn-rt")
    with ScoringApiServer(iam_access_keys={"someone-else"}) as scoring:
        assert main(predict_args("--endpoint", "churn-rt", "--scoring-url", scoring.url, "--model-name", "x")) == 1
    assert "HTTP 403" in capsys.readouterr().err


def test_async_failure_object_fails_only_its_batch(api, deployed, standin_env, capsys):
    from saasbridge.local.sagemaker.standin import inject_fault

    expected = expected_scores(api, deployed)
    n, size = len(expected), 6
    inject_fault(standin_env.url, "model_error", count=1, endpoint="churn-async")
    args = predict_args("--endpoint", "churn-async", "--mode", "async", "--s3-uri", "s3://predict-test/async-in",
                        "--max-rows-per-request", str(size), "--model-name", "churn-async-fault")  # fmt: skip
    assert main(args) == 1
    captured = capsys.readouterr()
    # requests run concurrently, so the fault may hit any one batch, the shorter last one included
    full, rest = divmod(n, size)
    sizes = {size} | ({size - 1, 2} if rest == 1 else {rest} - {0})  # a lone last row borrows one (payload.batches)
    failed = int(re.search(r"(\d+) failed", captured.out).group(1))
    assert full >= 2 and failed in sizes
    assert f"{n} rows read, {n - failed} predicted, {n - failed} written to predictions, {failed} failed" in captured.out
    assert f"{failed} rows failed: the async inference failed" in captured.err
    got = written(api, "churn-async-fault")
    assert len({p["entity_id"] for p in got}) == len(got) == n - failed
    assert all(p["score"] == expected[p["entity_id"]] for p in got)


@pytest.fixture
def larger_api(env, monkeypatch):
    """A reference API with more accounts than WRITE_BATCH several times over, for `predict` to use."""
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.3, seed=16, rate_limit=5000) as server:
        monkeypatch.setenv("SAASBRIDGE_API_URL", server.url)
        yield server


def test_batch_transform_streams_objects_and_an_interrupted_run_resumes_without_rescoring(larger_api, deployed,
                                                                                         standin_env, tmp_path):  # fmt: skip
    """Rows go to S3 in objects of at most `rows_per_object` rows; a run stopped while writing
    predictions resumes from its checkpoint: the second transform job is given only the rows the
    first did not write, and every row ends up written once with the model's own score."""
    import boto3

    from saasbridge.local.sagemaker.sdk_deploy import EXECUTION_ROLE
    from saasbridge.sagemaker.inference import Connection, PredictOptions, TransformScorer, predict
    from saasbridge.sagemaker.inference.source import WRITE_BATCH
    from tests.helpers import written as written_by_id

    sm, s3 = boto3.client("sagemaker"), boto3.client("s3")
    container = sm.describe_model(ModelName="churn-rt")["PrimaryContainer"]
    sm.create_model(ModelName="churn-resume", PrimaryContainer=container, ExecutionRoleArn=EXECUTION_ROLE)
    expected = expected_scores(larger_api, deployed, where=lambda r: True)  # every account
    n, per_object = len(expected), 150
    assert n > 2 * WRITE_BATCH  # so that the first run writes some rows and not all

    class Interrupted(TransformScorer):
        """Stops the run (KeyboardInterrupt) once it has handed on `stop_after` rows' outcomes."""

        def score_all(self, batches):
            handed = 0
            for batch, outcome in super().score_all(batches):
                if handed >= n - per_object:
                    raise KeyboardInterrupt
                handed += len(batch.ids)
                yield batch, outcome

    def scorer(kind):
        return kind(boto3.Session(), "churn-resume", "s3://predict-test/resume", endpoint="churn-rt", poll_seconds=0.1,
                    rows_per_object=per_object)  # fmt: skip

    def job_input(job: TransformScorer) -> list[list[str]]:
        """The row ids of each input object of `job`, in object order."""
        prefix = f"resume/{job.job_name}/input/"
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="predict-test", Prefix=prefix)["Contents"])
        return [[line.split(",")[0] for line in s3.get_object(Bucket="predict-test", Key=k)["Body"].read().decode()
                 .splitlines()] for k in keys]  # fmt: skip

    options = PredictOptions(entity="accounts", features=FEATURES, checkpoint=str(tmp_path / "run.ckpt"),
                             connection=Connection(), progress=False)  # fmt: skip
    first = scorer(Interrupted)
    with pytest.raises(KeyboardInterrupt):
        predict(options, first)
    objects = job_input(first)
    assert [len(o) for o in objects[:-1]] == [per_object] * (len(objects) - 1) and 0 < len(objects[-1]) <= per_object
    assert sorted(sum(objects, [])) == sorted(expected)
    done = set(written_by_id(larger_api, "churn-resume"))
    assert 0 < len(done) < n

    second = scorer(TransformScorer)
    result = predict(options, second)
    assert sorted(sum(job_input(second), [])) == sorted(set(expected) - done), "a written row was scored again"
    assert (result.read, result.resumed, result.predicted, result.written, result.failed) == \
        (n, len(done), n - len(done), n - len(done), 0)  # fmt: skip
    assert_exactly(larger_api, "churn-resume", expected, atol=0, endpoint="churn-rt")


def test_batch_transform_uploads_input_objects_while_rows_are_still_being_read(api, deployed, standin_env):
    """The transform scorer writes each input object as soon as it is full, not after the last row
    (at most one object's rows held); its outcomes are the model's own scores for every row once."""
    import boto3

    from saasbridge.sagemaker.inference import TransformScorer
    from saasbridge.sagemaker.inference.payload import Batch

    s3 = boto3.client("s3")
    expected = expected_scores(api, deployed, where=lambda r: True)
    accounts = dump_records(api.db_path, "acme", "accounts")
    scorer = TransformScorer(boto3.Session(), "churn-batch", "s3://predict-test/streaming", poll_seconds=0.1,
                             rows_per_object=25)  # fmt: skip
    uploaded_before: list[int] = []  # input objects in S3 when each batch was handed over

    def batches():
        for start in range(0, len(accounts), 10):
            rows = accounts[start:start + 10]
            listed = s3.list_objects_v2(Bucket="predict-test", Prefix=f"streaming/{scorer.job_name}/input/")
            uploaded_before.append(listed.get("KeyCount", 0))
            body = "".join(",".join("" if r[f] is None else str(r[f]) for f in FEATURES) + "\n" for r in rows)
            yield Batch(list(range(start, start + len(rows))), body.encode(), [r["id"] for r in rows])

    scores: dict[str, float] = {}
    for batch, outcome in scorer.score_all(batches()):
        assert not isinstance(outcome, str), outcome
        for rid, prediction in zip(batch.ids, outcome, strict=True):
            assert rid not in scores
            scores[rid] = prediction.score
    assert uploaded_before == [start // 25 for start in range(0, len(accounts), 10)]
    assert scores == expected


def test_a_failed_transform_job_fails_every_row_once_with_its_reason(api, deployed, standin_env):
    """Rows the model cannot take (one feature where it was trained on two) fail the job; each row
    of each input object is reported failed once, with the job's reason, none predicted."""
    import boto3

    from saasbridge.sagemaker.inference import TransformScorer
    from saasbridge.sagemaker.inference.payload import Batch

    ids = [f"row-{i}" for i in range(30)]
    scorer = TransformScorer(boto3.Session(), "churn-batch", "s3://predict-test/failing", poll_seconds=0.1,
                             rows_per_object=10)  # fmt: skip
    body = b"".join(f"{i}\n".encode() for i in range(30))
    failed: list[str] = []
    for batch, outcome in scorer.score_all([Batch(list(range(30)), body, ids)]):
        assert isinstance(outcome, str) and outcome.startswith("transform job failed: "), outcome
        failed.extend(batch.ids)
    assert sorted(failed) == sorted(ids)
