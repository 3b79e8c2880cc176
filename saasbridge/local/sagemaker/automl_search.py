"""The stand-in's Autopilot: a real, small model search with scikit-learn on one tabular data set.

The problem type is the request's or inferred from the target (two values: binary; a few whole
numbers or text: multiclass; else regression); the objective is the request's Autopilot metric or
Autopilot's default for the type (F1, Accuracy, MSE). Candidates are a fixed grid of a few model
families (linear, random forest, gradient boosting: `linear`, `forest`, `boosting`), each behind the same
preprocessing (numbers: median imputation and standardisation; text: most frequent value and one-hot),
taken family by family up to MaxCandidates. Each is scored by k-fold cross-validation of the
objective on all rows, then refitted on all rows; the best by the objective is the BestCandidate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded when a search runs, not when the stand-in starts
    import pandas as pd

BINARY, MULTICLASS, REGRESSION = "BinaryClassification", "MulticlassClassification", "Regression"
PROBLEM_TYPES = (BINARY, MULTICLASS, REGRESSION)
DEFAULT_OBJECTIVE = {BINARY: "F1", MULTICLASS: "Accuracy", REGRESSION: "MSE"}
# Autopilot metric → (scikit-learn scorer, higher is better); scorers named neg_* are reported positive.
OBJECTIVES = {
    "Accuracy": ("accuracy", True), "BalancedAccuracy": ("balanced_accuracy", True), "F1": ("f1", True),
    "F1macro": ("f1_macro", True), "AUC": ("roc_auc", True), "Precision": ("precision", True),
    "PrecisionMacro": ("precision_macro", True), "Recall": ("recall", True), "RecallMacro": ("recall_macro", True),
    "MSE": ("neg_mean_squared_error", False), "RMSE": ("neg_root_mean_squared_error", False),
    "MAE": ("neg_mean_absolute_error", False), "R2": ("r2", True),
}  # fmt: skip
BINARY_ONLY = {"F1", "AUC", "Precision", "Recall"}
REGRESSION_METRICS = {"MSE", "RMSE", "MAE", "R2"}
MAX_MULTICLASS_VALUES = 10
FOLDS = 3


class SearchError(ValueError):
    """The data or the request cannot be searched (the job's FailureReason)."""


@dataclass
class Candidate:
    name: str
    family: str
    params: dict[str, Any]
    objective_value: float | None = None
    model: Any = None  # the pipeline refitted on all rows


@dataclass
class SearchResult:
    problem_type: str
    objective: str
    maximize: bool
    features: list[str]
    classes: list[Any] | None
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def best(self) -> Candidate | None:
        scored = [c for c in self.candidates if c.objective_value is not None]
        if not scored:
            return None
        return (max if self.maximize else min)(scored, key=lambda c: c.objective_value)


def infer_problem_type(target: pd.Series) -> str:
    import pandas as pd

    values = target.dropna().unique()
    if len(values) == 2:
        return BINARY
    if not pd.api.types.is_numeric_dtype(target):
        return MULTICLASS
    whole = all(float(v).is_integer() for v in values)
    return MULTICLASS if whole and 2 < len(values) <= MAX_MULTICLASS_VALUES else REGRESSION


def resolve(target: pd.Series, problem_type: str | None, objective: str | None) -> tuple[str, str]:
    """(problem type, objective) as Autopilot resolves them; SearchError for a combination it refuses."""
    problem = problem_type or infer_problem_type(target)
    if problem not in PROBLEM_TYPES:
        raise SearchError(f"ProblemType {problem} is not one the stand-in searches; use {', '.join(PROBLEM_TYPES)}")
    metric = objective or DEFAULT_OBJECTIVE[problem]
    if metric not in OBJECTIVES:
        raise SearchError(f"AutoMLJobObjective {metric} is not supported by the stand-in; use one of "
                          f"{', '.join(OBJECTIVES)}")  # fmt: skip
    if (problem == REGRESSION) != (metric in REGRESSION_METRICS) or (problem == MULTICLASS and metric in BINARY_ONLY):
        raise SearchError(f"AutoMLJobObjective {metric} does not apply to {problem}")
    return problem, metric


def grid(problem_type: str) -> list[tuple[str, dict[str, Any]]]:
    """(family, parameters) in the order candidates are taken: one of each family first."""
    if problem_type == REGRESSION:
        families = [("linear", [{"alpha": 1.0}, {"alpha": 10.0}]),
                    ("forest", [{"n_estimators": 50}, {"n_estimators": 50, "max_depth": 6}]),
                    ("boosting", [{"learning_rate": 0.1}, {"learning_rate": 0.05, "n_estimators": 200}])]  # fmt: skip
    else:
        families = [("linear", [{"C": 1.0}, {"C": 0.1}]),
                    ("forest", [{"n_estimators": 50}, {"n_estimators": 50, "max_depth": 6}]),
                    ("boosting", [{"learning_rate": 0.1}, {"learning_rate": 0.05, "n_estimators": 200}])]  # fmt: skip
    rounds = max(len(options) for _, options in families)
    return [(name, options[i]) for i in range(rounds) for name, options in families if i < len(options)]


def estimator(problem_type: str, family: str, params: dict[str, Any]) -> Any:
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, Ridge

    regression = problem_type == REGRESSION
    if family == "linear":
        return Ridge(**params) if regression else LogisticRegression(max_iter=1000, **params)
    if family == "forest":
        cls = RandomForestRegressor if regression else RandomForestClassifier
        return cls(random_state=0, n_jobs=1, **params)
    # not HistGradientBoosting: its OpenMP threads crawl on a busy machine, and the data sets here are small
    cls = GradientBoostingRegressor if regression else GradientBoostingClassifier
    return cls(random_state=0, **params)


def pipeline(features: pd.DataFrame, model: Any) -> Any:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    text = [c for c in features.columns if c not in numeric]
    steps = [("numbers", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
              numeric)]  # fmt: skip
    if text:
        steps.append(("text", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                            OneHotEncoder(handle_unknown="ignore", sparse_output=False)), text))  # fmt: skip
    return Pipeline([("prepare", ColumnTransformer(steps)), ("model", model)])


def search(data: pd.DataFrame, target: str, *, job_name: str, problem_type: str | None = None,
           objective: str | None = None, max_candidates: int | None = None,
           stop: Callable[[], bool] = lambda: False) -> Iterator[tuple[SearchResult, Candidate]]:  # fmt: skip
    """Score and refit candidates one by one; yields the result so far and the candidate just done
    (stops early when `stop()` says so)."""
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.preprocessing import LabelEncoder

    if target not in data.columns:
        raise SearchError(f"ClientError: TargetAttributeName {target} is not a column of the data "
                          f"(columns: {', '.join(map(str, data.columns))})")  # fmt: skip
    data = data[data[target].notna()]
    if len(data) < 2 * FOLDS:
        raise SearchError(f"ClientError: {len(data)} rows with a target value; at least {2 * FOLDS} are needed")
    problem, metric = resolve(data[target], problem_type, objective)
    scorer, maximize = OBJECTIVES[metric]
    features = data.drop(columns=[target])
    classes = None
    y = data[target].to_numpy()
    if problem != REGRESSION:
        encoder = LabelEncoder().fit(y)
        classes, y = encoder.classes_.tolist(), encoder.transform(y)
        smallest = int(np.bincount(y).min())
        if smallest < FOLDS:
            raise SearchError(f"ClientError: a target class has {smallest} row(s); each needs at least {FOLDS}")
        folds: Any = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    else:
        y = y.astype(float)
        folds = KFold(FOLDS, shuffle=True, random_state=0)
    result = SearchResult(problem, metric, maximize, [str(c) for c in features.columns], classes)
    options = grid(problem)[: max_candidates or None]
    for number, (family, params) in enumerate(options, 1):
        if stop():
            return
        candidate = Candidate(f"{job_name[:48]}-{number:03d}-{family}", family, params)
        model = pipeline(features, estimator(problem, family, params))
        scores = cross_val_score(model, features, y, scoring=scorer, cv=folds)
        value = float(np.mean(scores))
        candidate.objective_value = -value if scorer.startswith("neg_") else value
        candidate.model = model.fit(features, y)
        result.candidates.append(candidate)
        yield result, candidate
