"""The verification runner that ships with the AppFlow SDK (`python -m custom_connector_tests.run_tests
MODULE CLASS CONFIG.json`) passes against the reference API, with the connector's credentials in a
Secrets Manager secret on the moto server and the configuration kept in tests/appflow_runner_config.json.

Two SDK quirks are worked around, not hidden: the runner loads its schema from the relative path
`./custom_connector_tests/configuration/ConfigSchema.json` (reference §13), and that schema has a
`$ref` of `#definitions/credentials` (no slash), which current jsonschema rejects as an invalid JSON
pointer; so the runner runs in a scratch directory holding a copy of the schema with that one `$ref`
corrected. The runner itself and the connector are the installed ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import custom_connector_tests
import pytest

from demo_saas.store import dump_records

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "appflow_runner_config.json"


def scratch_dir_with_schema(tmp_path: Path) -> Path:
    source = Path(custom_connector_tests.__file__).parent / "configuration" / "ConfigSchema.json"
    text = source.read_text()
    assert '"#definitions/credentials"' in text  # the quirk this works around is still there
    target = tmp_path / "custom_connector_tests" / "configuration" / "ConfigSchema.json"
    target.parent.mkdir(parents=True)
    target.write_text(text.replace('"#definitions/credentials"', '"#/definitions/credentials"'))
    return tmp_path


def run_sdk_runner(cwd: Path, env: dict[str, str], config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "custom_connector_tests.run_tests", "appflow_connector.handler",
         "SaasBridgeConnectorHandler", str(config)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


@pytest.fixture
def runner_env(moto_server, tmp_path):
    from saasbridge.local.processes import start_reference_api

    config = json.loads(CONFIG.read_text())
    sm = boto3.client("secretsmanager", endpoint_url=moto_server.url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    name = config["credentials"]["secretArn"]
    try:
        sm.create_secret(Name=name, SecretString=json.dumps({"apiKey": "demo-acme-key"}))
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=json.dumps({"apiKey": "demo-acme-key"}))
    with start_reference_api(scale=0.02, seed=37, rate_limit=1000, db_path=tmp_path / "api.sqlite") as api:
        env = {
            **os.environ, "AWS_ENDPOINT_URL": moto_server.url, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "SAASBRIDGE_API_URL": api.url,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }  # fmt: skip
        env.pop("SAASBRIDGE_API_KEY", None)  # credentials come only from the secret
        yield api, env


def test_sdk_verification_runner_passes(runner_env, tmp_path):
    api, env = runner_env
    cwd = scratch_dir_with_schema(tmp_path / "scratch")
    proc = run_sdk_runner(cwd, env, CONFIG)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Tests completed successfully" in proc.stdout
    for stage in ("Configuration handler was verified", "Metadata handler was verified"):
        assert stage in output
    # the runner's writes really reached the API
    stored = {r["id"]: r for r in dump_records(api.db_path, "acme", "predictions")}
    assert stored["pred_sdk_runner_1"]["score"] == 0.75  # UPSERT then UPDATE
    assert any(
        r["model"] == "sdk-runner" and r["entity_id"] == "acc_000001" for r in stored.values()
    )  # INSERT
    assert "demo-acme-key" not in output


def test_sdk_verification_runner_fails_on_a_wrong_secret(runner_env, tmp_path):
    """The runner is a real check: with credentials the API refuses it exits non-zero."""
    api, env = runner_env
    config = json.loads(CONFIG.read_text())
    config["credentials"]["secretArn"] = "appflow!000000000000-saasbridge-sdk-runner-wrong"
    sm = boto3.client("secretsmanager", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    with contextlib.suppress(sm.exceptions.ResourceExistsException):
        sm.create_secret(
            Name=config["credentials"]["secretArn"], SecretString=json.dumps({"apiKey": "wrong-key"})
        )
    bad = tmp_path / "bad_config.json"
    bad.write_text(json.dumps(config))
    proc = run_sdk_runner(scratch_dir_with_schema(tmp_path / "scratch"), env, bad)
    assert proc.returncode != 0
    assert "Validate Credentials response was unsuccessful" in proc.stdout + proc.stderr
    assert "wrong-key" not in proc.stdout + proc.stderr
