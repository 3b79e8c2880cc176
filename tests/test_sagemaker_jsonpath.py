"""The JSONPath subset of batch transform's InputFilter / OutputFilter, with SageMaker's meaning
(the documented examples), and slices/indexes checked against Python's own on random rows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saasbridge.local.sagemaker import jsonpath

ROW = ["id-7", "1.5", "", "3"]
JOINED = {"id": 7, "features": [1, 2, 3], "SageMakerOutput": {"score": 0.25}}


@pytest.mark.parametrize(
    ("expression", "record", "expected"),
    [
        ("$", ROW, ROW),
        ("$[1:]", ROW, ["1.5", "", "3"]),
        ("$[0,-1]", ROW, ["id-7", "3"]),
        ("$[0,2:]", ROW, ["id-7", "", "3"]),
        ("$[-1]", ROW, "3"),
        ("$.features", JOINED, [1, 2, 3]),
        ("$.features[1:]", JOINED, [2, 3]),
        ("$['id','SageMakerOutput']", JOINED, {"id": 7, "SageMakerOutput": {"score": 0.25}}),
        ("$.SageMakerOutput['score']", JOINED, 0.25),
        ("$.*", {"a": 1, "b": 2}, [1, 2]),
    ],
)
def test_documented_filters(expression, record, expected):
    assert jsonpath.apply(expression, record) == expected


@pytest.mark.parametrize(
    ("expression", "record", "fragment"),
    [
        ("features", JOINED, "must start with $"),
        ("$..id", JOINED, "unsupported"),
        ("$.missing", JOINED, "no key 'missing'"),
        ("$[5]", ROW, "outside"),
        ("$.id", ROW, "not a JSON object"),
        ("$[0]", JOINED, "not an array"),
    ],
)
def test_bad_filters_fail_with_a_reason(expression, record, fragment):
    with pytest.raises(jsonpath.FilterError, match=fragment.replace("$", r"\$")):
        jsonpath.apply(expression, record)


@given(
    row=st.lists(st.integers(), max_size=8),
    start=st.none() | st.integers(-9, 9),
    stop=st.none() | st.integers(-9, 9),
)
def test_slices_are_pythons(row, start, stop):
    text = f"$[{'' if start is None else start}:{'' if stop is None else stop}]"
    assert jsonpath.apply(text, row) == row[start:stop]


@given(row=st.lists(st.integers(), min_size=1, max_size=8), data=st.data())
def test_index_lists_pick_in_order(row, data):
    indexes = data.draw(st.lists(st.integers(-len(row), len(row) - 1), min_size=2, max_size=5))
    assert jsonpath.apply(f"$[{','.join(map(str, indexes))}]", row) == [row[i] for i in indexes]
