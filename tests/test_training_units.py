"""saasbridge.sagemaker.training's pure parts: channels from records, the script-mode and Autopilot
requests, the one-line errors."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from datetime import UTC, datetime
from decimal import Decimal

import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saasbridge.errors import ConfigError
from saasbridge.sagemaker.training import autopilot as automl
from saasbridge.sagemaker.training import script_mode
from saasbridge.sagemaker.training.channels import ChannelSpec, build_channels, check_spec, split_fraction
from saasbridge.sagemaker.training.script_mode import ScriptJob

FIELDS = {"id": {"dataType": "String"}, "y": {"dataType": "Boolean"}, "a": {"dataType": "Double"},
          "b": {"dataType": "Integer"}, "name": {"dataType": "String"}}  # fmt: skip
records = st.lists(st.fixed_dictionaries({
    "id": st.uuids().map(str),
    "y": st.none() | st.booleans(),
    "a": st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=3),
    "b": st.none() | st.integers(-10**12, 10**12),
}), max_size=60, unique_by=lambda r: r["id"])  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(records, st.floats(0.0, 0.9))
def test_every_row_with_a_target_lands_in_exactly_one_channel_exactly(rows, fraction):
    spec = ChannelSpec("e", "y", ("a", "b"), "id", fraction)
    with_target = [r for r in rows if r["y"] is not None]
    if not with_target:
        with pytest.raises(ConfigError, match="no rows to train on"):
            build_channels(rows, spec)
        return
    if all(split_fraction(r["id"]) < fraction for r in with_target):
        with pytest.raises(ConfigError, match="no rows to train on"):
            build_channels(rows, spec)
        return
    out = build_channels(rows, spec)
    got = {c: list(csv.reader(io.StringIO(body.decode()))) for c, body in out.files.items()}
    expected: dict[str, list[list[str]]] = {"train": [], "validation": []}
    for r in with_target:
        line = ["1" if r["y"] else "0", "" if r["a"] is None else format(r["a"], "f"), "" if r["b"] is None else str(r["b"])]
        expected["validation" if split_fraction(r["id"]) < fraction else "train"].append(line)
    assert got == {c: rows_ for c, rows_ in expected.items() if rows_}
    assert out.rows == {"train": len(expected["train"]), "validation": len(expected["validation"]),
                        "skipped_null_target": len(rows) - len(with_target)}  # fmt: skip


def test_an_autopilot_channel_has_a_header_row():
    out = build_channels([{"id": "1", "y": True, "a": Decimal("1.50"), "b": 2}], ChannelSpec("e", "y", ("a", "b"), "id", 0.0, True))
    assert out.files == {"train": b"y,a,b\n1,1.50,2\n"}


@pytest.mark.parametrize(("target", "features", "message"), [
    ("y", [], "--features: name at least one"),
    ("y", ["a", "y"], "--target y is also in --features"),
    ("y", ["a", "a"], "--features names a more than once"),
    ("nope", ["a"], "--target 'nope' is not a field of e; its fields: a, b, id, name, y"),
    ("y", ["a", "zz"], "--features 'zz' is not a field of e"),
    ("y", ["name"], "--features 'name' of e is String; training columns must be numeric or boolean"),
])  # fmt: skip
def test_columns_that_cannot_train_are_one_line_errors(target, features, message):
    with pytest.raises(ConfigError) as caught:
        check_spec(FIELDS, "e", target, features)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_script_job_errors_name_the_argument(tmp_path):
    (tmp_path / "train.py").write_text("")
    for job, message in [
        (ScriptJob(str(tmp_path / "missing.py")), "--entry-point .*missing.py: no such file"),
        (ScriptJob("train.py", str(tmp_path / "nodir")), "--source-dir .*nodir: no such directory"),
        (ScriptJob("other.py", str(tmp_path)), "--entry-point other.py: no such file in --source-dir"),
        (ScriptJob(str(tmp_path / "train.py"), metrics={"m": "no group"}), "--metric m: the regex needs exactly one group"),
        (ScriptJob(str(tmp_path / "train.py"), metrics={"m": "(["}), "--metric m: .* is not a regular expression"),
    ]:  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            job.checked()
    with pytest.raises(ConfigError, match="no scikit-learn image known for region eu-west-1; pass --image"):
        ScriptJob("train.py").image_for("eu-west-1")


def test_job_names_are_the_sdks_shape():
    name = script_mode.job_name("my entity/with:odd chars" * 3, datetime(2026, 1, 2, 3, 4, 5, 678000, UTC))
    assert name.endswith("-2026-01-02-03-04-05-678") and len(name) <= 63
    assert all(c.isalnum() or c == "-" for c in name)


def test_script_mode_request_is_what_boto3_accepts_and_the_sdk_sends(tmp_path):
    (tmp_path / "src" / "lib").mkdir(parents=True)
    (tmp_path / "src" / "train.py").write_text("print(1)")
    (tmp_path / "src" / "lib" / "util.py").write_text("")
    job = ScriptJob("train.py", str(tmp_path / "src"), {"C": 0.5, "kernel": "rbf", "n": 3, "flag": True},
                    {"acc": "acc=([0-9.]+)"}).checked()  # fmt: skip
    request = script_mode.create_training_job_request(job, name="j", role_arn="arn:aws:iam::1:role/r",
                                                      region="us-east-1", source_url="s3://b/j/source/sourcedir.tar.gz",
                                                      channels={"train": "s3://b/j/input/train/"}, output_url="s3://b/out")  # fmt: skip
    assert request["HyperParameters"] == {"C": "0.5", "kernel": '"rbf"', "n": "3", "flag": "true",
                                          "sagemaker_program": '"train.py"',
                                          "sagemaker_submit_directory": '"s3://b/j/source/sourcedir.tar.gz"',
                                          "sagemaker_container_log_level": "20", "sagemaker_region": '"us-east-1"'}  # fmt: skip
    described = {**request, "ModelArtifacts": {"S3ModelArtifacts": "s3://b/out/j/output/model.tar.gz"}}
    model = script_mode.model_request(described, name="j", region="us-east-1")
    assert model["PrimaryContainer"] == {"Image": request["AlgorithmSpecification"]["TrainingImage"],
                                         "ModelDataUrl": "s3://b/out/j/output/model.tar.gz", "Environment": {
        "SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": "s3://b/j/source/sourcedir.tar.gz",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": "us-east-1"}}  # fmt: skip
    assert model["ExecutionRoleArn"] == "arn:aws:iam::1:role/r"
    autopilot = automl.create_automl_job_request(automl.AutopilotJob("Regression", "RMSE", 4), name="a", role_arn="arn:aws:iam::1:role/r",
                                                 target="y", channels={"train": "s3://b/t/", "validation": "s3://b/v/"},
                                                 output_url="s3://b/o")  # fmt: skip
    assert [c["ChannelType"] for c in autopilot["AutoMLJobInputDataConfig"]] == ["training", "validation"]
    service = botocore.session.get_session().get_service_model("sagemaker")
    from botocore.validate import ParamValidator

    for operation, params in [("CreateTrainingJob", request), ("CreateModel", model), ("CreateAutoMLJobV2", autopilot)]:
        report = ParamValidator().validate(params, service.operation_model(operation).input_shape)
        assert not report.has_errors(), report.generate_report()
    with tarfile.open(fileobj=io.BytesIO(script_mode.source_tarball(job))) as tar:
        assert tar.getnames() == ["lib/util.py", "train.py"]


def test_hyperparameter_values_read_as_the_sdk_would_have_been_given_them():
    assert [script_mode.parse_value(v) for v in ["1", "0.5", "true", "rbf", "[1]", "null"]] == [1, 0.5, True, "rbf", "[1]", None]
    assert json.dumps(script_mode.parse_value("1e-3")) == "0.001"


@pytest.mark.parametrize(("job", "message"), [
    (automl.AutopilotJob(problem_type="Ranking"), "--problem-type Ranking: use BinaryClassification"),
    (automl.AutopilotJob(objective="Speed"), "--objective Speed: use one of"),
    (automl.AutopilotJob(max_candidates=0), "--max-candidates must be at least 1"),
])  # fmt: skip
def test_autopilot_settings_errors(job, message):
    with pytest.raises(ConfigError, match=message):
        job.checked()
