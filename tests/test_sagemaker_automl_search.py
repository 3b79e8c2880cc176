"""The stand-in's Autopilot search (saasbridge.local.sagemaker.automl_search): problem types and
objectives resolved as Autopilot resolves them, candidates in family order, the best by the objective."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from saasbridge.local.sagemaker.automl_search import SearchError, infer_problem_type, resolve, search


@pytest.mark.parametrize(("values", "expected"), [
    ([0, 1, 1, 0], "BinaryClassification"),
    (["yes", "no", "yes"], "BinaryClassification"),
    ([1, 2, 3, 2, 1], "MulticlassClassification"),
    (["a", "b", "c"], "MulticlassClassification"),
    ([0.5, 1.25, 3.0, 7.5], "Regression"),
    (list(range(40)), "Regression"),
])  # fmt: skip
def test_problem_type_from_the_target(values, expected):
    assert infer_problem_type(pd.Series(values)) == expected


@pytest.mark.parametrize(("problem", "objective", "message"), [
    ("Regression", "F1", "AutoMLJobObjective F1 does not apply to Regression"),
    ("MulticlassClassification", "AUC", "AutoMLJobObjective AUC does not apply to MulticlassClassification"),
    ("BinaryClassification", "MSE", "AutoMLJobObjective MSE does not apply to BinaryClassification"),
    ("Ranking", None, "ProblemType Ranking is not one the stand-in searches"),
    (None, "MAPE", "AutoMLJobObjective MAPE is not supported by the stand-in"),
])  # fmt: skip
def test_objectives_that_do_not_fit_are_refused(problem, objective, message):
    with pytest.raises(SearchError, match=message):
        resolve(pd.Series([0, 1, 0, 1]), problem, objective)


def test_defaults_are_autopilots():
    assert resolve(pd.Series([0, 1]), None, None) == ("BinaryClassification", "F1")
    assert resolve(pd.Series([1, 2, 3]), None, None) == ("MulticlassClassification", "Accuracy")
    assert resolve(pd.Series([0.1, 2.5, 3.7]), None, None) == ("Regression", "MSE")


def test_search_yields_candidates_family_by_family_and_the_best_is_the_lowest_error():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 2))
    data = pd.DataFrame({"y": 3 * x[:, 0] - x[:, 1] + rng.normal(scale=0.1, size=120), "a": x[:, 0], "b": x[:, 1]})
    steps = list(search(data, "y", job_name="job", max_candidates=4))
    result = steps[-1][0]
    assert [c.name for c in result.candidates] == ["job-001-linear", "job-002-forest", "job-003-boosting",
                                                   "job-004-linear"]  # fmt: skip
    assert (result.problem_type, result.objective, result.maximize) == ("Regression", "MSE", False)
    values = {c.name: c.objective_value for c in result.candidates}
    assert all(v > 0 for v in values.values())  # MSE, reported positive
    assert result.best.objective_value == min(values.values())
    assert result.best.family == "linear"  # the data is linear: the linear model wins
    predictions = result.best.model.predict(data[["a", "b"]])
    assert float(np.mean((predictions - data["y"]) ** 2)) < 0.05


def test_a_stop_ends_the_search_before_the_next_candidate():
    data = pd.DataFrame({"y": [0, 1] * 10, "a": range(20)})
    seen: list[str] = []
    for _result, candidate in search(data, "y", job_name="j", stop=lambda: len(seen) >= 2):
        seen.append(candidate.name)
    assert seen == ["j-001-linear", "j-002-forest"]


def test_data_that_cannot_be_searched_says_why():
    with pytest.raises(SearchError, match="TargetAttributeName z is not a column of the data"):
        next(search(pd.DataFrame({"y": [1, 0] * 5}), "z", job_name="j"))
    with pytest.raises(SearchError, match="a target class has 1 row"):
        next(search(pd.DataFrame({"y": [0] * 9 + [1], "a": range(10)}), "y", job_name="j"))
