"""Scoring inside the SaaS's own compute with an imported model: ONNX through onnxruntime, or a
scikit-learn pickle/joblib file only when the caller trusts it. Same input as the endpoints get
(the CSV or JSON Lines body), so the same rows give the same features."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from saasbridge.errors import ConfigError
from saasbridge.s3url import is_s3_url
from saasbridge.sagemaker.inference.archive import (
    PICKLE_SUFFIXES,
    ModelImportError,
    choose_model_file,
    import_model,
)
from saasbridge.sagemaker.inference.base import BatchFailed, Scorer
from saasbridge.sagemaker.inference.payload import JSON, JSON_LINES, Batch, Prediction


def features_matrix(body: bytes, content_type: str) -> Any:
    """The batch body back as a float matrix (NaN for missing values), as SageMaker's default
    input handling decodes it."""
    import numpy as np

    text = body.decode()
    if content_type == JSON_LINES:
        rows = [json.loads(line)["features"] for line in text.splitlines() if line.strip()]
    elif content_type == JSON:
        rows = json.loads(text)["instances"]
    else:
        rows = list(csv.reader(io.StringIO(text)))
    try:
        return np.array([[np.nan if v in ("", None) else float(v) for v in row] for row in rows], dtype=float)
    except ValueError as exc:
        raise BatchFailed(f"a feature is not a number ({exc}); in-process models take numeric features") from None


def _predictions(scores: Any, labels: Any | None) -> list[Prediction]:
    import numpy as np

    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 2:
        scores = scores[:, -1]  # predict_proba: the last (positive) class
    labels_list = [None] * len(scores) if labels is None else [str(v) for v in np.asarray(labels).ravel()]
    return [Prediction(float(s), lab) for s, lab in zip(scores, labels_list, strict=True)]


class OnnxScorer(Scorer):
    mode = "in-process"

    def __init__(self, path: Path, *, name: str | None = None, concurrency: int = 1):
        super().__init__()
        import onnxruntime as ort

        self.model = name or path.stem
        self.concurrency = concurrency
        try:
            self._session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelImportError(f"{path}: not a loadable ONNX model ({str(exc)[:200]})") from None
        self._input = self._session.get_inputs()[0]
        self._outputs = [o.name for o in self._session.get_outputs()]

    def score(self, batch: Batch) -> list[Prediction]:
        import numpy as np

        x = features_matrix(batch.body, self.content_type)
        dtype = np.float64 if "double" in self._input.type else np.float32
        try:
            results = dict(zip(self._outputs, self._session.run(None, {self._input.name: x.astype(dtype)}), strict=True))
        except Exception as exc:
            raise BatchFailed(f"the ONNX model failed: {str(exc)[:200]}") from None
        probabilities = next((v for k, v in results.items() if "prob" in k.lower()), None)
        label = next((v for k, v in results.items() if "label" in k.lower()), None)
        if probabilities is not None:
            if isinstance(probabilities, list) and probabilities and isinstance(probabilities[0], dict):
                keys = sorted(probabilities[0])  # a ZipMap: class → probability
                probabilities = [[row[k] for k in keys] for row in probabilities]
            return _predictions(probabilities, label)
        return _predictions(np.asarray(next(iter(results.values()))).reshape(len(batch.rows), -1), None)


class PickleScorer(Scorer):
    """A scikit-learn estimator from a joblib/pickle file the caller chose to trust."""

    mode = "in-process"

    def __init__(self, path: Path, *, name: str | None = None):
        super().__init__()
        import joblib

        self.model = name or path.stem
        self.concurrency = 1
        self._estimator = joblib.load(path)

    def score(self, batch: Batch) -> list[Prediction]:
        x = features_matrix(batch.body, self.content_type)
        try:
            if hasattr(self._estimator, "predict_proba"):
                return _predictions(self._estimator.predict_proba(x), self._estimator.predict(x))
            return _predictions(self._estimator.predict(x), None)
        except Exception as exc:
            raise BatchFailed(f"the model failed: {str(exc)[:200]}") from None


def load_scorer(path: str, *, trust_pickle: bool = False, name: str | None = None) -> Scorer:
    """A scorer for an ONNX file, an imported model directory, or a model.tar.gz (checked and
    unpacked to a temporary place)."""
    target = Path(path).expanduser()
    if target.is_dir():
        model_file, kind = choose_model_file(target, trust_pickle=trust_pickle, what=path)
        name = name or target.name
    elif target.suffix.lower() == ".onnx" and target.is_file():
        model_file, kind = target, "onnx"
    elif path.endswith((".tar.gz", ".tgz")) or is_s3_url(path):
        import tempfile

        with tempfile.TemporaryDirectory(prefix="saasbridge-models-") as tmp:  # the model is read at load
            imported = import_model(path, Path(tmp), trust_pickle=trust_pickle)
            return _scorer(imported.model_file, imported.kind, name or imported.name)
    elif target.is_file() and target.suffix.lower() in PICKLE_SUFFIXES:
        if not trust_pickle:
            raise ModelImportError(
                f"{path}: a pickle runs its code when loaded; export the model to ONNX, or pass --trust-pickle "
                "if you trust where it comes from"
            )
        model_file, kind = target, "pickle"
    else:
        raise ConfigError(f"--model {path}: no such file or directory")
    return _scorer(model_file, kind, name)


def _scorer(model_file: Path, kind: str, name: str | None) -> Scorer:
    return OnnxScorer(model_file, name=name) if kind == "onnx" else PickleScorer(model_file, name=name)
