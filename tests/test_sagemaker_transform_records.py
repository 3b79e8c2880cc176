"""Batch transform's record handling (transform_jobs.py alone, with a stand-in model function): for any
rows, batch size and strategy, every input line gets exactly one output line, in order, with its id
joined, whatever the batching; a model that answers the wrong number of lines fails the job."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saasbridge.local.sagemaker.transform_jobs import TransformFailed, TransformJob, output_key


class SumModel:
    """Answers one line per input line: the sum of its numeric fields (CSV in, CSV out)."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []

    def call_model(self, _url: str, body: bytes, _content_type: str, _accept: str) -> tuple[int, bytes, str]:
        self.requests.append(body)
        lines = body.decode().splitlines()
        return 200, "".join(f"{sum(float(c) for c in line.split(','))}\n" for line in lines).encode(), "text/csv"


def job(model, *, strategy: str, max_payload: int, **processing) -> TransformJob:
    request = {
        "TransformJobName": "t", "ModelName": "m", "BatchStrategy": strategy,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}},
                           "ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": "s3://b/out", "Accept": "text/csv", "AssembleWith": "Line"},
        "DataProcessing": processing,
    }  # fmt: skip
    transform = TransformJob(request, clients=None, runtime=model)
    transform.model_url = "stub"
    transform.max_payload = max_payload
    return transform


rows = st.lists(
    st.tuples(st.text("abcxyz0123", min_size=1, max_size=6), st.lists(st.integers(-999, 999), min_size=1, max_size=4)),
    min_size=1, max_size=40,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(rows=rows, strategy=st.sampled_from(["SingleRecord", "MultiRecord"]), max_payload=st.integers(24, 400))
def test_every_line_is_answered_once_in_order_with_its_id(rows, strategy, max_payload):
    model = SumModel()
    body = "".join(f"{rid},{','.join(map(str, values))}\n" for rid, values in rows).encode()
    transform = job(model, strategy=strategy, max_payload=max_payload,
                    InputFilter="$[1:]", JoinSource="Input", OutputFilter="$[0,-1]")  # fmt: skip
    out = transform.transform_object(body, "in/part.csv").decode()
    assert list(csv.reader(io.StringIO(out))) == [[rid, str(float(sum(values)))] for rid, values in rows]
    assert all(len(r) <= max_payload for r in model.requests)
    if strategy == "SingleRecord":
        assert len(model.requests) == len(rows)
    sent = [line for r in model.requests for line in r.decode().splitlines()]
    assert sent == [",".join(map(str, values)) for _, values in rows]  # the id never reaches the model


def test_wrong_number_of_answer_lines_fails_the_job():
    class Dropping(SumModel):
        def call_model(self, *args):
            status, body, kind = super().call_model(*args)
            return status, b"\n".join(body.splitlines()[:-1]) + b"\n", kind

    transform = job(Dropping(), strategy="MultiRecord", max_payload=10_000, InputFilter="$[1:]", JoinSource="Input")
    with pytest.raises(TransformFailed, match="returned 1 records for 2 inputs"):
        transform.transform_object(b"a,1\nb,2\n", "in/part.csv")


@pytest.mark.parametrize(
    ("s3_uri", "key", "expected"),
    [
        ("s3://b/in/", "in/part.csv", "s3://b/out/part.csv.out"),
        ("s3://b/in/part.csv", "in/part.csv", "s3://b/out/part.csv.out"),
        ("s3://b/input-prefix", "input-prefix/dataset01/data.csv", "s3://b/out/input-prefix/dataset01/data.csv.out"),
    ],
)
def test_output_keys_follow_the_input_keys(s3_uri, key, expected):
    assert output_key(s3_uri, key, "s3://b/out/") == expected
