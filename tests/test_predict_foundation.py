"""`saasbridge predict --task text-generation|embedding` against the SageMaker stand-in's text model:
the texts and vectors written into the SaaS equal the model's own function called directly on the
reference API's own rows; predictions are upserted in batches (requests counted by the API itself);
an interrupted run resumes from its checkpoint without scoring the rows it wrote."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from demo_saas.store import dump_records
from saasbridge.cli import main
from saasbridge.local.sagemaker import text_model
from tests.helpers import written

WHERE = "country in ('DE', 'FR')"
PROMPT = "Summarize: {name} works in {industry} ({country})"
CONTEXT_TOKENS = 40

pytestmark = pytest.mark.usefixtures("fresh_session")


@pytest.fixture(scope="module")
def request_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api") / "requests.log"


@pytest.fixture(scope="module")
def api(request_log):
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.12, seed=22, rate_limit=5000, request_log=request_log) as server:
        yield server


@pytest.fixture(scope="module")
def endpoints(sagemaker_standin, tmp_path_factory):
    """The stand-in's text model behind a text-generation and an embedding endpoint."""
    import boto3

    from saasbridge.local.sagemaker.sdk_deploy import deploy_endpoint, upload_model

    aws = {"endpoint_url": sagemaker_standin.url, "region_name": "us-east-1", "aws_access_key_id": "testing",
           "aws_secret_access_key": "testing"}  # fmt: skip
    s3, sm = boto3.client("s3", **aws), boto3.client("sagemaker", **aws)
    s3.create_bucket(Bucket="genai-test")
    for name, task in (("textgen", "text-generation"), ("embedder", "embedding")):
        model_dir = text_model.write_model_dir(tmp_path_factory.mktemp(name), task, context_tokens=CONTEXT_TOKENS)
        deploy_endpoint(name, upload_model(model_dir, f"s3://genai-test/{name}/model.tar.gz", s3), sm,
                        program="inference.py")  # fmt: skip
    return sagemaker_standin


@pytest.fixture
def env(aws_env, api, endpoints, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    monkeypatch.setenv("SAASBRIDGE_API_URL", api.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoints.url)
    return api


def rows(api, entity: str = "accounts", where=lambda r: r["country"] in ("DE", "FR")) -> list[dict]:
    return [r for r in dump_records(api.db_path, "acme", entity) if where(r)]


def prompt_of(row: dict) -> str:
    """The prompt as documented: each placeholder's value, a missing one as empty text."""
    return PROMPT.format(**{k: "" if row[k] is None else row[k] for k in ("name", "industry", "country")})


def puts_to_predictions(log: Path, since_line: int) -> tuple[int, int]:
    """(batch upserts, single-record PUTs) the API received after line `since_line` of its log."""
    lines = log.read_text().splitlines()[since_line:]
    calls = [line.split()[3:5] for line in lines]
    return (sum(c == ["PUT", "/v1/predictions"] for c in calls),
            sum(c[0] == "PUT" and c[1].startswith("/v1/predictions/") for c in calls))  # fmt: skip


def test_text_generation_writes_the_models_own_texts(env, capsys):
    expected = {r["id"]: text_model.generate(prompt_of(r), {"max_new_tokens": 6}) for r in rows(env)}
    assert any(r["industry"] is None for r in rows(env)), "the data should hold a missing value"
    args = ["predict", "accounts", "--endpoint", "textgen", "--task", "text-generation", "--prompt", PROMPT,
            "--parameters", "max_new_tokens=6", "--where", WHERE, "--no-progress"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    n = len(expected)
    assert f"{n} rows read, {n} predicted, {n} written to predictions, 0 failed" in capsys.readouterr().out
    got = written(env, "textgen")
    assert {k: p["text"] for k, p in got.items()} == expected
    assert all(p["score"] is None and p["embedding"] is None and p["endpoint"] == "textgen" for p in got.values())


def test_streamed_generation_equals_the_whole_answer(env, capsys):
    """InvokeEndpointWithResponseStream: the parts (split anywhere) reassemble to the model's text."""
    parameters = {"max_new_tokens": 12, "temperature": 0.7, "seed": 3}
    expected = {r["id"]: text_model.generate(prompt_of(r), parameters) for r in rows(env)}
    args = ["predict", "accounts", "--endpoint", "textgen", "--task", "text-generation", "--prompt", PROMPT,
            "--parameters", "max_new_tokens=12", "temperature=0.7", "seed=3", "--stream",
            "--model-name", "textgen-streamed", "--where", WHERE, "--no-progress"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert {k: p["text"] for k, p in written(env, "textgen-streamed").items()} == expected


def test_embeddings_are_the_models_own_vectors_upserted_in_batches(env, request_log, capsys):
    contacts = rows(env, "contacts", lambda r: True)
    assert len(contacts) >= 1000
    expected = {r["id"]: text_model.embed(r["email"]) for r in contacts if r["email"] is not None}
    missing = len(contacts) - len(expected)
    assert missing, "the data should hold a missing email"
    since = len(request_log.read_text().splitlines())
    args = ["predict", "contacts", "--endpoint", "embedder", "--task", "embedding", "--text-column", "email",
            "--no-progress"]  # fmt: skip
    assert main(args) == 1  # the rows without an email fail, and say why
    captured = capsys.readouterr()
    assert f"{missing} rows failed: no text to send: email missing" in captured.err
    assert f"{len(expected)} written to predictions, {missing} failed" in captured.out
    got = written(env, "embedder")
    assert {k: p["embedding"] for k, p in got.items()} == expected  # exact floats, no gap, no extra
    assert all(math.isclose(sum(v * v for v in p["embedding"]), 1.0) for p in got.values())
    batched, single = puts_to_predictions(request_log, since)
    assert single == 0
    assert batched * 1000 / len(contacts) <= 12, f"{batched} upsert requests for {len(contacts)} predictions"


def test_a_prompt_over_the_context_window_fails_its_rows_with_the_models_reason(env, capsys, tmp_path):
    long_prompt = "Summarize the account " + "in great detail " * 12 + "{name}"
    log = tmp_path / "predict.log"
    args = ["predict", "accounts", "--endpoint", "textgen", "--task", "text-generation", "--prompt", long_prompt,
            "--model-name", "textgen-long", "--where", WHERE, "--no-progress", "--log-file", str(log)]  # fmt: skip
    assert main(args) == 1
    captured = capsys.readouterr()
    n = len(rows(env))
    assert f"{n} rows failed: ModelError: the model answered HTTP " in captured.err
    assert f"must be <= {CONTEXT_TOKENS}" in captured.err and "Traceback" not in captured.err
    # the model's full text goes to the predict log, once per failed request (one prompt each)
    logged = log.read_text()
    assert f"the models' full error texts: {log}" in captured.err
    assert logged.count("model error from endpoint textgen") == n and f"must be <= {CONTEXT_TOKENS}" in logged
    assert f"{n} rows read, 0 predicted, 0 written" in captured.out
    assert written(env, "textgen-long") == {}


@pytest.mark.parametrize("args, message", [
    (["--task", "embedding"], "give either --prompt TEMPLATE or --text-column COLUMN"),
    (["--task", "embedding", "--text-column", "email", "--features", "x"], "drop --features"),
    (["--prompt", "{name}"], "go with --task"),
    (["--task", "text-generation", "--prompt", "no placeholder"], "names no column"),
    (["--task", "text-generation", "--prompt", "{nope}"], "nope: not fields of accounts"),
    (["--task", "text-generation", "--prompt", "{name!r}"], "is not a column placeholder"),
    (["--task", "embedding", "--text-column", "name", "--stream"], "--stream reads a text generation"),
    (["--task", "text-generation", "--prompt", "{name}", "--parameters", "max_new_tokens"], "write name=value"),
])  # fmt: skip
def test_foundation_option_mistakes_are_one_line(env, capsys, args, message):
    assert main(["predict", "accounts", "--endpoint", "textgen", "--no-progress", *args]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_an_interrupted_run_resumes_without_rescoring_the_written_rows(env, tmp_path):
    import boto3

    from saasbridge.sagemaker.inference import Connection, PredictOptions, predict
    from saasbridge.sagemaker.inference.endpoint import EndpointInfo
    from saasbridge.sagemaker.inference.foundation import FoundationScorer, TextInput

    class Counting(FoundationScorer):
        """Counts the rows it sends; raises KeyboardInterrupt once it has sent `stop_after`."""

        def __init__(self, stop_after: int | None = None):
            super().__init__(boto3.Session(), EndpointInfo("embedder", "embedder-resumed"), "embedding",
                             concurrency=2)  # fmt: skip
            self.sent, self.stop_after = [], stop_after

        def score(self, batch):
            if self.stop_after is not None and len(self.sent) >= self.stop_after:
                raise KeyboardInterrupt
            self.sent.extend(batch.ids)
            return super().score(batch)

    contacts = {r["id"]: r for r in rows(env, "contacts", lambda r: True)}
    options = PredictOptions(entity="contacts", features=[], text=TextInput("embedding", text_column="email"),
                             checkpoint=str(tmp_path / "run.ckpt"), connection=Connection(), progress=False)  # fmt: skip
    first = Counting(stop_after=400)
    with pytest.raises(KeyboardInterrupt):
        predict(options, first)
    done = written(env, "embedder-resumed")
    assert 0 < len(done) < len(contacts)
    second = Counting()
    result = predict(options, second)
    assert not set(second.sent) & set(done), "a written row was scored again"
    assert sorted(second.sent) == sorted(set(contacts) - set(done) - {k for k, r in contacts.items() if r["email"] is None})
    no_email = {k for k, r in contacts.items() if r["email"] is None}
    assert result.resumed == len(done) and set(result.failures) == {"no text to send: email missing"}
    assert result.read == len(contacts) and result.written == len(contacts) - len(done) - len(no_email)
    final = written(env, "embedder-resumed")
    assert {k: p["embedding"] for k, p in final.items()} == {
        k: text_model.embed(r["email"]) for k, r in contacts.items() if k not in no_email}


@pytest.mark.parametrize("function", ["summarize", "predict"])
def test_athena_ml_varchar_function_returns_the_models_texts(env, fresh_athena, function):
    """`USING EXTERNAL FUNCTION summarize(x VARCHAR) RETURNS VARCHAR SAGEMAKER '…'` in the local
    engine (CSV in and out, as Athena calls the endpoint); a function may be named `predict`."""
    from saasbridge.local.engine import Engine, run_sql

    sql = (f"USING EXTERNAL FUNCTION {function}(x VARCHAR) RETURNS VARCHAR SAGEMAKER 'textgen' "
           f"SELECT id, {function}(name || ', ' || country) FROM crm.accounts WHERE country IN ('DE', 'FR') ORDER BY id")  # fmt: skip
    table = run_sql(Engine(), sql).table
    expected = {r["id"]: text_model.generate(f"{r['name']}, {r['country']}") for r in rows(env)}
    assert table.column_names == ["id", f"{function}(name || ', ' || country)"]
    assert dict(zip(table.column("id").to_pylist(), table.column(1).to_pylist(), strict=True)) == expected
