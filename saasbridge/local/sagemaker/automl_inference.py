"""The inference script of the stand-in's Autopilot candidates (packed as `code/automl_inference.py` in
each candidate's model.tar.gz and served with `SAGEMAKER_PROGRAM=automl_inference.py`).

Like Autopilot's tabular inference containers: the request is text/csv rows of the features in the
training data's column order, without the target and without a header (an empty field is a missing
value); the answer is one CSV line a row with the keys `SAGEMAKER_INFERENCE_OUTPUT` names
(default `predicted_label`; `probability`: the probability of the predicted label, classification
only). Standalone on purpose: it runs in the model server, not as part of saasbridge.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

MODEL_FILE = "model.joblib"
CSV = "text/csv"
OUTPUT_KEYS = ("predicted_label", "probability")


def model_fn(model_dir: str) -> dict:
    """{"pipeline", "features": [(name, "number"|"text")], "problem_type", "classes"} saved by the search."""
    import joblib

    return joblib.load(Path(model_dir) / MODEL_FILE)


def input_fn(body: str | bytes, content_type: str) -> str:
    if content_type.split(";")[0].strip().lower() != CSV:
        raise ValueError(f"unsupported content type {content_type!r}: send {CSV} rows without header")
    return body.decode("utf-8") if isinstance(body, bytes) else body


def predict_fn(text: str, model: dict) -> list[list[str]]:
    import pandas as pd

    names = [name for name, _ in model["features"]]
    kinds = {name: str for name, kind in model["features"] if kind == "text"}
    rows = pd.read_csv(io.StringIO(text), header=None, names=names, dtype=kinds, keep_default_na=True)
    keys = [k.strip() for k in os.environ.get("SAGEMAKER_INFERENCE_OUTPUT", "predicted_label").split(",") if k.strip()]
    unknown = [k for k in keys if k not in OUTPUT_KEYS]
    if unknown or (model["classes"] is None and "probability" in keys):
        raise ValueError(f"SAGEMAKER_INFERENCE_OUTPUT {keys}: use predicted_label"
                         + (", probability" if model["classes"] is not None else ""))  # fmt: skip
    pipeline = model["pipeline"]
    if model["classes"] is None:
        return [[repr(float(v))] for v in pipeline.predict(rows)]
    probabilities = pipeline.predict_proba(rows)
    out = []
    for row in probabilities:
        best = int(row.argmax())
        values = {"predicted_label": str(model["classes"][best]), "probability": repr(float(row[best]))}
        out.append([values[k] for k in keys])
    return out


def output_fn(prediction: list[list[str]], accept: str) -> tuple[str, str]:
    return "".join(",".join(values) + "\n" for values in prediction), CSV
