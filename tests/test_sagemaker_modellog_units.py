"""Pure parts of the model log: ARN-derived ids, console links, redaction, the test comparison."""

from __future__ import annotations

import json
import string

from hypothesis import given
from hypothesis import strategies as st

from demo_saas.app import _valid_id
from saasbridge.sagemaker.modellog.ids import approval_id, arn_name, console_url, record_id
from saasbridge.sagemaker.modellog.records import REDACTED, iso, safe_environment
from saasbridge.sagemaker.modellog.testrun import ModelTestRun, compare_output, default_output_url

# SageMaker names: letters, digits and hyphens, up to 63 characters
names = st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=63)
kinds = st.sampled_from(["model", "endpoint-config", "endpoint", "training-job", "transform-job", "model-package"])
regions = st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"])


def _arn(region, kind, name, version=None):
    return f"arn:aws:sagemaker:{region}:123456789012:{kind}/{name}" + (f"/{version}" if version else "")


@given(regions, kinds, names, st.none() | st.integers(1, 10_000))
def test_record_ids_are_valid_api_ids_and_stable(region, kind, name, version):
    arn = _arn(region, kind, name, version)
    assert _valid_id(record_id(arn)) and record_id(arn) == record_id(arn)


@given(st.lists(st.tuples(regions, kinds, names), min_size=2, max_size=20, unique=True))
def test_distinct_arns_get_distinct_ids(assets):
    arns = [_arn(*a) for a in assets]
    assert len({record_id(a) for a in arns}) == len(arns)


def test_long_arns_get_a_digest_and_approvals_one_id_per_pair():
    long = _arn("ap-southeast-2", "model-package", "g" * 63, 123456)
    assert record_id(long).startswith("sha256:") and _valid_id(record_id(long))
    m, c1, c2 = _arn("us-east-1", "model", "m"), _arn("us-east-1", "endpoint-config", "c1"), _arn("us-east-1", "endpoint-config", "c2")
    assert approval_id(m, c1) == approval_id(m, c1) != approval_id(m, c2)
    assert _valid_id(approval_id(m, c1)) and arn_name(c1) == "c1"


def test_console_links():
    assert console_url(_arn("eu-west-1", "transform-job", "b1")) == (
        "https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/transform-jobs/b1")
    assert console_url(_arn("eu-west-1", "training-job", "t1")).endswith("#/jobs/t1")
    assert console_url(_arn("eu-west-1", "model-package", "g", 2)).endswith("#/model-registry/g/versions/2")
    assert console_url(_arn("eu-west-1", "model-package", "unversioned")) is None
    assert console_url("not-an-arn") is None


def test_secret_looking_environment_values_are_redacted():
    env = {"SAGEMAKER_PROGRAM": "train.py", "DB_PASSWORD": "x", "api_key": "y", "AWS_SECRET_ACCESS_KEY": "z",
           "HF_TOKEN": "t", "MODEL_SERVER_WORKERS": "2"}
    assert safe_environment(env) == {
        "AWS_SECRET_ACCESS_KEY": REDACTED, "DB_PASSWORD": REDACTED, "HF_TOKEN": REDACTED,
        "MODEL_SERVER_WORKERS": "2", "SAGEMAKER_PROGRAM": "train.py", "api_key": REDACTED,
    }


def test_iso_matches_the_api_format():
    from datetime import UTC, datetime, timedelta, timezone

    from demo_saas.records import format_ts, parse_ts

    t = datetime(2025, 3, 5, 17, 4, 11, 250999, tzinfo=timezone(timedelta(hours=2)))
    assert iso(t) == "2025-03-05T15:04:11.250Z" == format_ts(parse_ts(iso(t)))  # the API stores it unchanged
    assert iso(datetime(2025, 1, 1)) == "2025-01-01T00:00:00.000Z" and iso(None) is None
    assert iso(datetime(2025, 1, 1, tzinfo=UTC)) == "2025-01-01T00:00:00.000Z"


def test_compare_output():
    assert compare_output("0.5\n0.25\n", "0.5\n0.25") is None
    assert compare_output("0.5,a\n0.2500000001\n\n", "0.5,a\n0.25\n") is None
    assert compare_output("0.5\n0.3\n", "0.5\n0.25\n") == "record 2: '0.3', expected '0.25'"
    assert compare_output("0.5\n", "0.5\n0.25\n") == "1 records, expected 2"
    assert compare_output("a,b\n", "a\n") == "record 1: 'a,b', expected 'a'"


def _formats(scores: list[float]) -> list[str]:
    """The same scores as CSV, JSON Lines and JSON documents, as models answer them."""
    return [
        "".join(f"{s!r}\n" for s in scores),
        "".join(json.dumps({"score": s}) + "\n" for s in scores),
        json.dumps({"predictions": scores}),
        json.dumps(scores),
        json.dumps({"predictions": [{"score": s} for s in scores]}),
    ]


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=20), st.data())
def test_compare_output_reads_csv_json_lines_and_json_alike(scores, data):
    for got in _formats(scores):
        for expected in _formats(scores):
            assert compare_output(got, expected) is None, (got, expected)
    n = data.draw(st.integers(0, len(scores) - 1))
    changed = [*scores[:n], scores[n] + max(1.0, abs(scores[n])), *scores[n + 1:]]
    for got in _formats(changed):
        assert compare_output(got, _formats(scores)[0]).startswith(f"record {n + 1}:")


def test_test_run_output_location():
    run = ModelTestRun("sbtest-1", "m", "s3://b/test/in.csv", "s3://b/test/exp.csv", default_output_url("s3://b/test/in.csv", "sbtest-1"))
    assert run.output_object == "s3://b/test/saasbridge-test-output/sbtest-1/in.csv.out"
