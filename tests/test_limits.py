"""AWS limits under fat rows and slow pages (issue 23), through both connectors' Lambda handlers
against a loopback documents API (conformance/fat_api.py) and S3 on the moto server.

Every answer's size and time is recorded and checked against its limit: Lambda's 6 MB response
(6,291,456 bytes), Athena's block size (the one asked for, at most 16,000,000 bytes), AppFlow's
30 seconds per call. Rows are compared with the API's own data.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import dataclass

import boto3
import pyarrow as pa
import pytest

from appflow_connector import records as appflow_records
from appflow_connector.handler import lambda_handler as appflow_handler
from athena_connector import errors as athena_errors
from athena_connector import protocol as p
from athena_connector.protocol import ipc
from conformance.fat_api import API_KEY, FAT, MIB, DocsApi, catalog_yaml, digest, documents
from saasbridge.local.httpstub import StubServer
from tests.athena_driver import s3_client, scan
from tests.helpers import put_secret, reset_connectors

LAMBDA_RESPONSE_LIMIT = 6_291_456
ATHENA_BLOCK_LIMIT = 16_000_000
APPFLOW_CALL_SECONDS = 30.0
BUCKET = "limits-spill"


@dataclass
class Deployed:
    api: StubServer
    docs: DocsApi
    arn: str

    def appflow_call(self, kind: str, **fields) -> tuple[dict, dict]:
        """One AppFlow call; (response, {bytes, seconds} of the answer)."""
        event = {"type": kind, "entityIdentifier": "docs",
                 "connectorContext": {"apiVersion": "v1",
                                      "connectorRuntimeSettings": {"instanceUrl": self.api.url},
                                      "credentials": {"secretArn": self.arn, "authenticationType": "ApiKey"}},
                 **fields}
        started = time.monotonic()
        response = appflow_handler(json.loads(json.dumps(event)), None)
        measured = {"bytes": len(json.dumps(response)), "seconds": time.monotonic() - started}
        return response, measured

    def query_all(self, answers: list[dict], **fields) -> list[dict]:
        """Every record of a QueryData listing, following nextToken as AppFlow does."""
        token, records = None, []
        for _ in range(100):
            response, measured = self.appflow_call("QueryDataRequest", maxResults=1000, nextToken=token, **fields)
            answers.append(measured)
            assert response["isSuccess"], response["errorDetails"]
            records += [json.loads(r) for r in response["records"]]
            token = response["nextToken"]
            if not token:
                return records
        raise AssertionError("QueryData never ended")


@pytest.fixture
def deploy(aws_env, monkeypatch, tmp_path):
    """Both connectors serving the documents catalog: `deploy(docs, delay=…, page=…)`."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    stack = ExitStack()

    def setup(docs: list[dict], *, delay: float = 0.0, page: int = 4) -> Deployed:
        handler = DocsApi(docs, delay=delay, max_page_size=page)
        api = stack.enter_context(StubServer(handler))
        path = tmp_path / "docs.yaml"
        path.write_text(catalog_yaml(page))
        for name, value in {"SAASBRIDGE_CATALOG": str(path), "SAASBRIDGE_API_URL": api.url,
                            "SAASBRIDGE_API_KEY": API_KEY, "spill_bucket": BUCKET,
                            "SAASBRIDGE_ATHENA_MAX_SPLITS": "1"}.items():
            monkeypatch.setenv(name, value)
        arn = put_secret(f"docs-{tmp_path.name}", {"apiKey": API_KEY})
        reset_connectors()
        return Deployed(api, handler, arn)

    yield setup
    stack.close()
    reset_connectors()


def _digests(rows: list[dict]) -> list[tuple]:
    return sorted(digest(r) for r in rows)


def _spilled_objects(stats: dict) -> list[int]:
    """Bytes of every object the connector spilled, in block order per split."""
    s3 = s3_client()
    sizes = []
    for split in stats["splits"]:
        key = split["spillLocation"]["key"]
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=key + ".").get("Contents", [])
        sizes += [o["Size"] for o in sorted(listed, key=lambda o: int(o["Key"].rsplit(".", 1)[1]))]
    return sizes


def _check_athena_answers(stats: dict) -> None:
    assert all(a["bytes"] < LAMBDA_RESPONSE_LIMIT for a in stats["answers"]), stats["answers"]
    assert all(a["seconds"] < 900 for a in stats["answers"])  # Lambda's longest timeout


# ---------------------------------------------------------------- Athena


@pytest.mark.parametrize("max_block", [ATHENA_BLOCK_LIMIT, 20_000_000, 13_500_000])
def test_athena_serves_3_and_12_mib_values_in_blocks_cut_by_bytes(deploy, max_block):
    deploy(FAT)
    stats: dict = {}
    table = scan("docs", max_block=max_block, stats=stats, schema_name="docs")
    assert _digests(table.to_pylist()) == _digests(FAT)
    _check_athena_answers(stats)
    assert stats["responses"] == ["RemoteReadRecordsResponse"]
    limit = min(max_block, ATHENA_BLOCK_LIMIT)
    sizes = _spilled_objects(stats)
    assert sizes and all(size <= limit for size in sizes), sizes
    # each block as large as allowed: the first row of the next block would not have fitted
    blocks = list(_blocks(stats))
    for block, following in zip(blocks, blocks[1:], strict=False):
        joined = pa.Table.from_batches([block, following.slice(0, 1)]).combine_chunks().to_batches()[0]
        assert len(ipc.batch_bytes(joined, legacy=True)) + 16 > limit


def _blocks(stats: dict):
    s3 = s3_client()
    for split in stats["splits"]:
        key = split["spillLocation"]["key"]
        schema = pa.schema([("id", pa.string()), ("size", pa.int64()), ("body", pa.string())])
        index = 0
        while True:
            try:
                yield p.read_spilled_block(s3, {"bucket": BUCKET, "key": f"{key}.{index}"},
                                           split["encryptionKey"], schema)
            except s3.exceptions.NoSuchKey:
                break
            index += 1


def test_athena_refuses_a_value_larger_than_the_block_asked_for(deploy):
    deploy(FAT)
    with pytest.raises(athena_errors.ValueTooLargeError) as caught:
        scan("docs", max_block=8_000_000, schema_name="docs")
    message = str(caught.value)
    assert "\n" not in message
    assert "table docs" in message and "body value" in message and "'doc_05'" in message
    assert "8,000,000 bytes" in message
    # without the fat column the same table is served whole
    table = scan("docs", columns=["id", "size"], max_block=8_000_000, schema_name="docs")
    assert sorted(table.to_pylist(), key=lambda r: r["id"]) == [{"id": d["id"], "size": d["size"]} for d in FAT]


def test_athena_inline_answers_stay_under_lambdas_limit_whatever_inline_size_is_asked(deploy):
    deploy(documents([3 * MIB, 10]))
    stats: dict = {}
    table = scan("docs", max_inline=50_000_000, stats=stats, schema_name="docs")
    assert stats["responses"] == ["ReadRecordsResponse"]  # one 3 MiB value: 4 MiB of base64 fits
    assert _digests(table.to_pylist()) == _digests(documents([3 * MIB, 10]))
    _check_athena_answers(stats)

    deploy(documents([3 * MIB, 3 * MIB]))
    stats = {}
    table = scan("docs", max_inline=50_000_000, stats=stats, schema_name="docs")
    assert stats["responses"] == ["RemoteReadRecordsResponse"]  # two would be 8.4 MB of base64
    assert _digests(table.to_pylist()) == _digests(documents([3 * MIB, 3 * MIB]))
    _check_athena_answers(stats)


# ---------------------------------------------------------------- AppFlow


def test_appflow_query_data_answers_fat_records_under_6_mb(deploy):
    docs = FAT + documents([50] * 6, first=len(FAT) + 1)  # light pages at the end
    served = [d for d in docs if d["size"] < 12 * MIB]
    api = deploy(docs)
    answers: list[dict] = []
    records = api.query_all(answers, filterExpression=f"size < {5 * MIB}")
    assert _digests(records) == _digests(served)
    assert all(a["bytes"] < LAMBDA_RESPONSE_LIMIT and a["seconds"] < APPFLOW_CALL_SECONDS for a in answers)
    sizes = [int(r.query["per_page"]) for r in api.api.requests if r.path == "/docs"]
    assert min(sizes) == 1 and sizes[0] == 4  # halved after the heavy pages…
    assert sizes[-1] == 4  # …and grown back after light ones


def test_appflow_refuses_one_record_larger_than_an_answer(deploy):
    api = deploy(FAT)
    answers: list[dict] = []
    assert _digests(api.query_all(answers, selectedFieldNames=["id", "size"])) == \
        _digests([{"id": d["id"], "size": d["size"]} for d in FAT])
    token, message = None, None
    for _ in range(20):
        response, measured = api.appflow_call("QueryDataRequest", maxResults=1000, nextToken=token)
        assert measured["bytes"] < LAMBDA_RESPONSE_LIMIT
        if not response["isSuccess"]:
            message = response["errorDetails"]["errorMessage"]
            break
        token = response["nextToken"]
    assert message is not None and "\n" not in message
    assert "'doc_05' of docs" in message and "largest field is body" in message


def test_appflow_retrieve_data_stays_under_6_mb(deploy):
    api = deploy(FAT)
    response, measured = api.appflow_call("RetrieveDataRequest", ids=["doc_02"], idFieldName="id")
    assert response["isSuccess"] and _digests([json.loads(r) for r in response["records"]]) == \
        _digests([FAT[1]])
    assert measured["bytes"] < LAMBDA_RESPONSE_LIMIT
    response, measured = api.appflow_call("RetrieveDataRequest", ids=["doc_02", "doc_03"], idFieldName="id")
    assert not response["isSuccess"] and "at most 1 ids" in response["errorDetails"]["errorMessage"]
    response, _ = api.appflow_call("RetrieveDataRequest", ids=["doc_05"], idFieldName="id")
    assert not response["isSuccess"] and "'doc_05'" in response["errorDetails"]["errorMessage"]


def test_appflow_write_data_splits_a_batch_larger_than_a_request_may_be(deploy):
    api = deploy([])
    new = documents([2 * MIB, 2 * MIB, 2 * MIB, 10])
    records = [json.dumps(d) for d in new]
    response, _ = api.appflow_call("WriteDataRequest", operation="INSERT", records=records)
    assert response["isSuccess"], response["errorDetails"]
    assert [r["recordId"] for r in response["writeRecordResults"]] == [d["id"] for d in new]
    assert _digests(api.docs.inserted) == _digests(new)
    assert len(api.docs.insert_bodies) == 2  # 2 + 2 MiB, then 2 MiB and the small one
    assert all(size <= appflow_records.RESPONSE_BUDGET_BYTES for size in api.docs.insert_bodies)


# ---------------------------------------------------------------- slow pages


def test_eight_second_pages_through_both_connectors(deploy):
    docs = documents([10, 20, 30, 40])
    api = deploy(docs, delay=8.0, page=2)
    answers: list[dict] = []
    assert _digests(api.query_all(answers)) == _digests(docs)
    assert len(answers) > 1  # the first call stopped in time and handed over a token
    assert all(a["bytes"] < LAMBDA_RESPONSE_LIMIT and a["seconds"] < APPFLOW_CALL_SECONDS for a in answers)
    assert all(a["seconds"] <= appflow_records.CALL_BUDGET_SECONDS + 1 for a in answers)
    stats: dict = {}
    table = scan("docs", stats=stats, schema_name="docs")
    assert _digests(table.to_pylist()) == _digests(docs)
    _check_athena_answers(stats)
