"""Model input building and output parsing for `saasbridge predict` (unit tests of one module)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saasbridge.errors import ConfigError
from saasbridge.sagemaker.inference.payload import (
    CSV,
    JSON,
    JSON_LINES,
    Batch,
    OutputSpec,
    PredictionFormatError,
    batches,
    check_features,
    encode_features,
    encode_row,
    parse_predictions,
)

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12),
)  # fmt: skip


def _decoded(body: bytes, width: int):
    """What the scikit-learn/XGBoost containers' default CSV decoder (sagemaker-inference) reads."""
    from sagemaker_inference import decoder

    return np.asarray(decoder.decode(body.decode(), "text/csv")).reshape(-1, width)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.lists(SCALARS, min_size=2, max_size=2), min_size=1, max_size=6))
def test_csv_features_are_one_float_matrix_for_the_default_decoder(rows):
    """Booleans, integers, decimals and floats (None missing) in any mix: the container's decoder
    reads a plain float matrix (never a structured array) equal to float() of each value; an
    integer above 2**53 arrives as the nearest float64, as documented."""
    named = [{"a": r[0], "b": r[1]} for r in rows]
    body = b"".join(encode_features(r, ["a", "b"], CSV) for r in named)
    matrix = _decoded(body, 2)
    assert matrix.dtype == np.float64 and matrix.dtype.names is None
    expected = np.array([[np.nan if v is None else float(v) for v in r] for r in rows], dtype=float)
    np.testing.assert_array_equal(matrix, expected)
    # XGBoost's and Linear Learner's CSV readers take each field as a float (no header, no text)
    strict = np.array([[float(cell) for cell in line.split(",")] for line in body.decode().splitlines()])
    np.testing.assert_array_equal(strict, expected)


def test_booleans_and_integers_are_written_as_floats_and_big_integers_round():
    assert encode_features({"x": 3, "flag": True, "off": False, "y": None, "d": Decimal("12.50")},
                           ["d", "x", "y", "flag", "off"]) == b"12.5,3.0,nan,1.0,0.0\n"  # fmt: skip
    assert encode_features({"n": 2**53 + 1}, ["n"]) == b"9007199254740992.0\n"


@pytest.mark.parametrize(("value", "kind"), [("DE", "text"), ({"a": 1}, "nested"), (["a"], "nested")])
def test_a_text_or_nested_feature_is_refused_for_csv_in_one_line(value, kind):
    with pytest.raises(ConfigError, match=f"feature country holds a {kind} value") as refused:
        encode_features({"country": value}, ["country"], CSV)
    assert "\n" not in str(refused.value) and "--content-type application/json" in str(refused.value)


def test_feature_types_are_checked_from_the_entity_before_any_row():
    fields = {"employees": {"dataType": "Integer"}, "active": {"dataType": "Boolean"},
              "country": {"dataType": "String"}, "tags": {"dataType": "List"}}  # fmt: skip
    check_features(fields, ["employees", "active"], CSV)
    with pytest.raises(ConfigError, match=r"--features country \(String\), tags \(List\): not numeric"):
        check_features(fields, ["employees", "country", "tags"], CSV)
    check_features(fields, ["country", "tags"], JSON)  # a JSON model takes text and nested values
    check_features(fields, ["country"], JSON_LINES)


def test_json_instances_and_json_lines_carry_text_and_nested_values():
    rows = [{"x": Decimal("1.5"), "y": None, "b": False, "c": "DE", "t": ["a"]}, {"x": 2, "y": 1.0, "b": True,
            "c": None, "t": []}]  # fmt: skip
    names = ["x", "y", "b", "c", "t"]
    [batch] = list(batches(((i, encode_features(r, names, JSON)) for i, r in enumerate(rows)), content_type=JSON))
    assert json.loads(batch.body) == {"instances": [[1.5, None, 0.0, "DE", ["a"]], [2.0, 1.0, 1.0, None, []]]}
    line = encode_features(rows[0], names, JSON_LINES)
    assert json.loads(line) == {"features": [1.5, None, 0.0, "DE", ["a"]]}


def test_athena_rows_keep_text_as_it_is():
    row = {"id": "a,1", "x": 3, "y": None, "flag": True, "name": 'say "hi"'}
    line = encode_row(row, ["x", "y", "flag", "name"])
    assert next(csv.reader(io.StringIO(line.decode()))) == ["3", "", "1", 'say "hi"']


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=3), min_size=1,
                     max_size=40), max_bytes=st.integers(min_value=60, max_value=300))  # fmt: skip
def test_json_batches_stay_under_the_limit_and_keep_every_row(rows, max_bytes):
    lines = [(i, encode_features({"v": r}, ["v"], JSON)) for i, r in enumerate(rows)]
    seen = []
    for item in batches(lines, max_bytes=max_bytes, content_type=JSON):
        if isinstance(item, Batch):
            assert len(item.body) <= max_bytes
            got = json.loads(item.body)["instances"]
            assert got == [[[float(v) for v in rows[i]]] for i in item.rows]
            seen.extend(item.rows)
        else:
            seen.append(item[0])
    assert sorted(seen) == list(range(len(rows)))


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=120), max_size=60),
    max_bytes=st.integers(min_value=40, max_value=400),
    max_rows=st.integers(min_value=1, max_value=10),
)
def test_batches_keep_every_row_once_in_order_and_under_the_limits(sizes, max_bytes, max_rows):
    lines = [(i, b"x" * (n - 1) + b"\n") for i, n in enumerate(sizes)]
    seen: list[int] = []
    too_big: list[int] = []
    for item in batches(lines, max_bytes=max_bytes, max_rows=max_rows):
        if isinstance(item, Batch):
            assert len(item.body) <= max_bytes and 1 <= len(item.rows) <= max_rows
            assert item.body == b"".join(lines[i][1] for i in item.rows)
            seen.extend(item.rows)
        else:
            assert sizes[item[0]] > max_bytes and "request limit" in item[1]
            too_big.append(item[0])
    assert sorted(seen + too_big) == list(range(len(sizes)))
    assert seen == sorted(seen)


@pytest.mark.parametrize(
    ("body", "content_type", "spec", "scores"),
    [
        (b"0.25\n0.75\n", CSV, OutputSpec(), [0.25, 0.75]),
        (b"0.1,0.9\n0.6,0.4\n", CSV, OutputSpec(), [0.9, 0.4]),  # predict_proba rows: the positive class
        (b"0.1,0.2,0.7\n0.6,0.3,0.1\n", CSV, OutputSpec(klass="0"), [0.1, 0.6]),  # several columns: --class
        (b'{"predictions": [0.5, 1e-3]}', JSON, OutputSpec(), [0.5, 0.001]),  # TensorFlow Serving
        (b'{"predictions": [[0.2, 0.8], [0.7, 0.3]]}', JSON, OutputSpec(klass="1"), [0.8, 0.3]),
        (b"[[0.2, 0.8], [1, 0]]", JSON, OutputSpec(), [0.8, 0.0]),
        (b"[0.2, 0.8]", JSON, OutputSpec(), [0.2, 0.8]),  # a list of numbers: one per row
        (b'{"predictions": [{"score": 0.9, "predicted_label": 1}, {"score": 0.2, "predicted_label": 0}]}', JSON,
         OutputSpec(), [0.9, 0.2]),  # Linear Learner
        (b'{"churn": [0.4, 0.6]}', JSON, OutputSpec(field="churn"), [0.4, 0.6]),  # a named output list
        (b'[{"probabilities": [0.3, 0.7], "labels": ["no", "yes"]}, {"probabilities": [0.9, 0.1], '
         b'"labels": ["no", "yes"]}]', JSON, OutputSpec(field="probabilities", klass="no"), [0.3, 0.9]),
        (b'{"score": 0.3}\n{"score": 0.4, "label": "1"}\n', JSON_LINES, OutputSpec(), [0.3, 0.4]),
        (b'{"p": [0.3, 0.7]}\n{"p": [0.6, 0.4]}\n', "application/x-jsonlines", OutputSpec(field="p"), [0.7, 0.4]),
        (b"0.5\n0.5", None, OutputSpec(), [0.5, 0.5]),
    ],
)
def test_predictions_are_parsed(body, content_type, spec, scores):
    assert [p.score for p in parse_predictions(body, content_type, len(scores), spec)] == scores


def test_a_label_the_answer_names_comes_with_the_score():
    body = b'{"predictions": [{"score": 0.9, "predicted_label": 1}]}'
    [prediction] = parse_predictions(body, JSON, 1)
    assert (prediction.score, prediction.label) == (0.9, "1")


@pytest.mark.parametrize(
    ("body", "expected", "message"),
    [
        (b"0.5\n", 2, "1 predictions for 2 rows"),
        (b"0.5\nnope\n", 2, "not a number"),
        (b"nan\n", 1, "not finite"),
        (b"{oops", 1, "not JSON"),
        (b'[{"p": 0.5}]', 1, "without a score"),
        (b'[{"probabilities": [0.5, 0.5], "labels": ["a", "b"]}]', 1, None),
    ],
)
def test_malformed_predictions_are_refused(body, expected, message):
    content_type = JSON if body[:1] in b"[{" else CSV
    if message is None:  # a class the answer does not list
        with pytest.raises(PredictionFormatError, match="--class c: the answer lists no such class"):
            parse_predictions(body, content_type, expected, OutputSpec(klass="c"))
        return
    with pytest.raises(PredictionFormatError, match=message):
        parse_predictions(body, content_type, expected)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=2, max_value=40), max_rows=st.integers(min_value=3, max_value=12))
def test_every_csv_batch_decodes_as_a_matrix(n, max_rows):
    """numpy's genfromtxt (the scikit-learn container's default decoder) reads a one-line body as a
    1-D array, which predict refuses: no batch is left with a lone row."""
    from sagemaker_inference import decoder

    lines = [(i, encode_features({"a": i, "b": True}, ["a", "b"], CSV)) for i in range(n)]
    seen = []
    for batch in batches(lines, max_rows=max_rows):
        matrix = decoder.decode(batch.body.decode(), "text/csv")
        assert matrix.shape == (len(batch.rows), 2) and len(batch.rows) <= max_rows
        np.testing.assert_array_equal(matrix[:, 0], batch.rows)
        seen.extend(batch.rows)
    assert seen == list(range(n))
