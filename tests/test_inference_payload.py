"""Model input building and output parsing for `saasbridge predict` (unit tests of one module)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saasbridge.errors import ConfigError
from saasbridge.sagemaker.inference.payload import (
    CSV,
    JSON_LINES,
    Batch,
    PredictionFormatError,
    batches,
    encode_row,
    parse_predictions,
)


def test_csv_rows_have_no_header_and_keep_feature_order():
    row = {"id": "a,1", "x": 3, "y": None, "flag": True, "amount": Decimal("12.50"), "name": 'say "hi"'}
    line = encode_row(row, ["amount", "x", "y", "flag", "name"])
    assert line == b'12.50,3,,1,"say ""hi"""\n'
    assert next(csv.reader(io.StringIO(line.decode()))) == ["12.50", "3", "", "1", 'say "hi"']


def test_json_lines_rows():
    line = encode_row({"x": Decimal("1.5"), "y": None, "b": False}, ["x", "y", "b"], JSON_LINES)
    assert json.loads(line) == {"features": [1.5, None, 0]}


def test_nested_feature_is_a_clear_error():
    with pytest.raises(ConfigError, match="nested value"):
        encode_row({"tags": ["a"]}, ["tags"])


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
    ("body", "content_type", "scores"),
    [
        (b"0.25\n0.75\n", "text/csv", [0.25, 0.75]),
        (b"0.1,0.9\n0.6,0.4\n", "text/csv", [0.9, 0.4]),  # predict_proba rows: the positive class
        (b'{"predictions": [0.5, 1e-3]}', "application/json", [0.5, 0.001]),
        (b"[[0.2, 0.8], [1, 0]]", "application/json", [0.8, 0.0]),
        (b'{"score": 0.3}\n{"score": 0.4, "label": "1"}\n', "application/jsonlines", [0.3, 0.4]),
        (b"0.5\n0.5", None, [0.5, 0.5]),
    ],
)
def test_predictions_are_parsed(body, content_type, scores):
    assert [p.score for p in parse_predictions(body, content_type, len(scores))] == scores


@pytest.mark.parametrize(
    ("body", "expected", "message"),
    [
        (b"0.5\n", 2, "1 predictions for 2 rows"),
        (b"0.5\nnope\n", 2, "not a number"),
        (b"nan\n", 1, "not finite"),
        (b"{oops", 1, "not JSON"),
    ],
)
def test_malformed_predictions_are_refused(body, expected, message):
    with pytest.raises(PredictionFormatError, match=message):
        parse_predictions(body, CSV if not body.startswith(b"{") else "application/json", expected)
