"""The Java judge of conformance/ (the published AWS SDKs) can fail: genuine connector answers are
accepted and the same answers, corrupted one way each, are rejected. One Maven build, one JVM."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from athena_connector import protocol as p
from athena_connector.handler import lambda_handler
from tests.athena_driver import CATALOG_NAME, Context
from tests.test_athena_handler import athena  # noqa: F401 (the connector against the reference API and moto)

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "conformance"

pytestmark = pytest.mark.skipif(shutil.which("java") is None or shutil.which("mvn") is None,
                                reason="java and mvn are needed for the conformance judge")


@pytest.fixture(scope="module")
def judge_classpath() -> str:
    """conformance/ compiled, and its dependency classpath (Maven runs only when a source is newer)."""
    out = PROJECT / "target" / "judge-classpath.txt"
    sources = [PROJECT / "pom.xml", *(PROJECT / "src" / "main").rglob("*.java")]
    built = out.stat().st_mtime if out.exists() else 0.0
    if all(src.stat().st_mtime < built for src in sources):
        return f"{PROJECT / 'target' / 'classes'}:{out.read_text().strip()}"
    subprocess.run(["mvn", "-B", "-q", "-f", str(PROJECT / "pom.xml"), "compile", "dependency:build-classpath",
                    f"-Dmdep.outputFile={out}"], check=True, timeout=600)
    return f"{PROJECT / 'target' / 'classes'}:{out.read_text().strip()}"


def judge(classpath: str, cases: list[dict], tmp_path: Path) -> dict[str, str]:
    """{case name: 'ACCEPT' or 'REJECT: why'} from one run of saasbridge.conformance.Judge."""
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    done = subprocess.run(["java", "--add-opens=java.base/java.nio=ALL-UNNAMED", "-cp", classpath,
                           "saasbridge.conformance.Judge", str(path)],
                          capture_output=True, text=True, timeout=300, check=True)
    verdicts = {}
    for line in done.stdout.splitlines():
        verdict, _, rest = line.partition(" ")
        name, _, why = rest.partition(": ")
        verdicts[name] = verdict if verdict == "ACCEPT" else f"REJECT: {why}"
    return verdicts


def call(event: dict) -> dict:
    return json.loads(json.dumps(lambda_handler(event, Context())))


def swapped(message: dict, a: str, b: str) -> dict:
    """The same fields with `a` and `b` in each other's place."""
    keys = list(message)
    i, j = keys.index(a), keys.index(b)
    keys[i], keys[j] = keys[j], keys[i]
    return {k: message[k] for k in keys}


def spilled_answer() -> dict:
    layout = call(p.build_get_table_layout_request(CATALOG_NAME, "crm", "accounts", constraints=p.build_constraints({}),
                                                   schema=p.decode_schema(table_schema()), query_id="q-judge"))
    splits = call(p.build_get_splits_request(CATALOG_NAME, "crm", "accounts", partitions=layout["partitions"],
                                             partition_columns=[], constraints=p.build_constraints({}),
                                             query_id="q-judge"))["splits"]
    split = next(s for s in splits if s["encryptionKey"])
    return call(p.build_read_records_request(CATALOG_NAME, "crm", "accounts",
                                             schema=p.decode_schema(table_schema()), split=split,
                                             constraints=p.build_constraints({}), max_block_size=4000,
                                             max_inline_block_size=1, query_id="q-judge"))


def table_schema() -> str:
    return call(p.build_get_table_request(CATALOG_NAME, "crm", "accounts", query_id="q-judge"))["schema"]


@pytest.mark.usefixtures("athena")
def test_the_judge_accepts_real_answers_and_rejects_each_corruption(moto_server, judge_classpath, tmp_path):
    table = call(p.build_get_table_request(CATALOG_NAME, "crm", "accounts", query_id="q-judge"))
    unsupported = dict(table, schema=p.encode_schema(pa.schema([pa.field("at", pa.timestamp("ms"))])))
    remote = spilled_answer()
    assert remote["@type"] == "RemoteReadRecordsResponse" and remote["remoteBlocks"]
    nonce = bytearray(base64.b64decode(remote["encryptionKey"]["nonce"]))
    nonce[0] ^= 0xFF
    wrong_nonce = {**remote, "encryptionKey": {**remote["encryptionKey"], "nonce": base64.b64encode(nonce).decode()}}
    query = {"isSuccess": True, "errorDetails": None, "nextToken": None, "records": ['{"id": "acc_000001"}']}
    bad_code = {"isSuccess": False, "errorDetails": {"errorCode": "Oops", "errorMessage": "x", "retryAfterSeconds": None},
                "nextToken": None, "records": None}
    s3 = moto_server.url
    cases = [
        {"name": "table", "kind": "athena", "version": 6, "message": table},
        {"name": "table-swapped", "kind": "athena", "version": 6, "message": swapped(table, "tableName", "schema")},
        {"name": "table-unsupported-type", "kind": "athena", "version": 6, "message": unsupported},
        {"name": "spill", "kind": "athena", "version": 6, "message": remote, "s3Endpoint": s3},
        {"name": "spill-wrong-nonce", "kind": "athena", "version": 6, "message": wrong_nonce, "s3Endpoint": s3},
        {"name": "query", "kind": "appflow", "requestType": "QueryDataRequest", "message": query},
        {"name": "query-unknown-error-code", "kind": "appflow", "requestType": "QueryDataRequest", "message": bad_code},
        {"name": "query-unknown-field", "kind": "appflow", "requestType": "QueryDataRequest",
         "message": {**query, "recordCount": 1}},
    ]
    verdicts = judge(judge_classpath, cases, tmp_path)
    assert {n: v for n, v in verdicts.items() if "-" not in n} == dict.fromkeys(["table", "spill", "query"], "ACCEPT")
    rejected = {n: v for n, v in verdicts.items() if "-" in n}
    assert set(rejected) == {c["name"] for c in cases if "-" in c["name"]}
    assert all(v.startswith("REJECT") for v in rejected.values()), rejected
    assert "schema" in rejected["table-swapped"] or "tableName" in rejected["table-swapped"]
    assert "not supported" in rejected["table-unsupported-type"]
    assert "mac check in GCM failed" in rejected["spill-wrong-nonce"]  # the SDK's AES-GCM block crypto
    assert "recordCount" in rejected["query-unknown-field"]
