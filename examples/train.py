"""A SageMaker script-mode entry point: trains on `saasbridge extract --for-training` channels and
serves the model it saved (the scikit-learn container's inference hooks).

Training, as a SageMaker training job runs it: the channels are directories in
`SM_CHANNEL_TRAIN` / `SM_CHANNEL_VALIDATION`, CSV files without header, target first, an empty
field a missing value. The model is a scikit-learn pipeline (mean imputation, standardisation,
logistic regression); a non-binary target is first turned into "above the training median".
`SM_MODEL_DIR` receives `model.joblib`, `model.onnx` (the same pipeline for onnxruntime, when
skl2onnx is installed), `model.json` (inputs, output, threshold) and `code/train.py` (this script),
so the `model.tar.gz` SageMaker packs from it is served with `SAGEMAKER_PROGRAM=train.py`.

Serving, as SageMaker's scikit-learn container runs it: `model_fn` loads `model.joblib`,
`input_fn` reads rows of features (text/csv without header, application/json as a list of rows
or {"instances": rows}, application/jsonlines as one row a line), `predict_fn` returns the
probability of the positive class per row, `output_fn` writes one score a row.

    python examples/train.py --max-iter 200 --C 1.0

As a SageMaker training job (script mode, with the metrics SageMaker reads from its output):

    saasbridge train contacts --target do_not_contact --entry-point examples/train.py \
        --hyperparameters max-iter=200 C=1.0 --metric 'validation:accuracy=validation_accuracy=([0-9.]+)' \
        --output s3://models/contacts --wait
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

MODEL_FILE = "model.joblib"
ONNX_FILE = "model.onnx"
METADATA_FILE = "model.json"
CSV, JSON, JSONLINES = "text/csv", "application/json", "application/jsonlines"


# ---------------------------------------------------------------- training


def load_channel(directory: str) -> np.ndarray:
    """All CSV files of a channel as one float matrix (NaN for empty fields)."""
    files = sorted(p for p in Path(directory).rglob("*.csv") if p.is_file())
    if not files:
        raise SystemExit(f"no CSV files in channel {directory}")
    parts = [parse_csv(p.read_text()) for p in files]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise SystemExit(f"channel {directory} holds no rows")
    return np.vstack(parts)


def parse_csv(text: str) -> np.ndarray:
    """CSV rows of numbers without header as a float matrix; an empty field is NaN."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return np.zeros((0, 0))
    return np.array([[float(c) if c.strip() else np.nan for c in line.split(",")] for line in lines], dtype=float)


def build_pipeline(*, max_iter: int, c: float):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([
        ("impute", SimpleImputer(strategy="mean", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("classify", LogisticRegression(max_iter=max_iter, C=c)),
    ])  # fmt: skip


def export_onnx(model, features: int, path: Path) -> bool:
    """The pipeline as ONNX (float32 input: onnxruntime's Imputer has no float64 kernel); False without skl2onnx."""
    try:
        from skl2onnx import to_onnx
    except ImportError:
        print("skl2onnx is not installed: no model.onnx (add skl2onnx to requirements.txt)", file=sys.stderr)
        return False
    onnx_model = to_onnx(model, np.zeros((1, features), dtype=np.float32), options={"zipmap": False},
                         target_opset=17)  # fmt: skip
    path.write_bytes(onnx_model.SerializeToString())
    return True


def metrics_for(model, x: np.ndarray, y: np.ndarray, prefix: str) -> dict:
    from sklearn.metrics import accuracy_score, log_loss

    p = model.predict_proba(x)[:, 1]
    return {f"{prefix}_rows": len(y), f"{prefix}_log_loss": float(log_loss(y, p, labels=[0.0, 1.0])),
            f"{prefix}_accuracy": float(accuracy_score(y, p >= 0.5))}  # fmt: skip


def train(args: argparse.Namespace) -> dict:
    import joblib

    data = load_channel(args.train)
    y_raw, x = data[:, 0], data[:, 1:]
    binary = set(np.unique(y_raw)) <= {0.0, 1.0}
    threshold = 0.5 if binary else float(np.median(y_raw))
    y = (y_raw > threshold).astype(float)
    if len(set(y)) < 2:
        raise SystemExit(f"the training target has a single class after thresholding at {threshold}; "
                         "choose another target or more rows")  # fmt: skip
    model = build_pipeline(max_iter=args.max_iter, c=args.C).fit(x, y)
    metrics = {"features": int(x.shape[1]), "threshold": threshold, **metrics_for(model, x, y, "train")}
    if args.validation and Path(args.validation).is_dir():
        val = load_channel(args.validation)
        metrics.update(metrics_for(model, val[:, 1:], (val[:, 0] > threshold).astype(float), "validation"))

    model_dir = Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / MODEL_FILE)
    has_onnx = export_onnx(model, x.shape[1], model_dir / ONNX_FILE)
    metadata = {"framework": "scikit-learn", "model": MODEL_FILE, "onnx": ONNX_FILE if has_onnx else None,
                "onnx_input": {"dtype": "float32", "shape": [None, int(x.shape[1])], "missing": "NaN"},
                "onnx_output": "probabilities[:, 1]",
                "features": int(x.shape[1]), "output": "probability of the positive class",
                "threshold": threshold, "content_types": [CSV, JSON, JSONLINES]}  # fmt: skip
    (model_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=1))
    code_dir = model_dir / "code"
    code_dir.mkdir(exist_ok=True)
    shutil.copyfile(__file__, code_dir / Path(__file__).name)
    out_dir = Path(args.output_dir) if args.output_dir else model_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", type=int, default=200, help="logistic regression iterations")
    # "-C" too: the training toolkit passes a one-letter hyperparameter as -C, not --C
    parser.add_argument("-C", "--C", type=float, default=1.0, dest="C", help="inverse regularisation strength")
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--output-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR"))
    args = parser.parse_args()
    if not (args.train and args.model_dir):
        raise SystemExit("set SM_CHANNEL_TRAIN and SM_MODEL_DIR (or --train / --model-dir)")
    metrics = train(args)
    print(json.dumps(metrics))
    for name, value in metrics.items():  # one `name=value` line each, for a training job's metric regexes
        print(f"{name}={value!r}")


# ---------------------------------------------------------------- serving (SageMaker inference hooks)


def model_fn(model_dir: str):
    """The fitted pipeline saved by training (a joblib file: load only archives you trust)."""
    import joblib

    return joblib.load(Path(model_dir) / MODEL_FILE)


def input_fn(body: str | bytes, content_type: str) -> np.ndarray:
    """Rows of features as a float matrix; an empty CSV field or a JSON null is a missing value."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    kind = content_type.split(";")[0].strip().lower()
    if kind == CSV:
        return parse_csv(text)
    if kind == JSON:
        rows = json.loads(text)
        rows = rows["instances"] if isinstance(rows, dict) else rows
    elif kind in (JSONLINES, "application/x-jsonlines"):
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        rows = [r["features"] if isinstance(r, dict) else r for r in rows]
    else:
        raise ValueError(f"unsupported content type {content_type!r}: send {CSV}, {JSON} or {JSONLINES}")
    return np.array([[np.nan if v is None else float(v) for v in row] for row in rows], dtype=float).reshape(
        len(rows), -1
    )


def predict_fn(data: np.ndarray, model) -> np.ndarray:
    """Probability of the positive class, one per row."""
    if len(data) == 0:
        return np.zeros(0)
    return model.predict_proba(data)[:, 1]


def output_fn(prediction: np.ndarray, accept: str) -> tuple[str, str]:
    """One score a row, printed exactly (repr of the float); JSON as {"predictions": [...]}."""
    kind = (accept or JSON).split(";")[0].strip().lower()
    scores = [repr(float(p)) for p in prediction]
    if kind == CSV:
        return "".join(s + "\n" for s in scores), CSV
    if kind in (JSONLINES, "application/x-jsonlines"):
        return "".join(f"{{\"score\": {s}}}\n" for s in scores), JSONLINES
    if kind in (JSON, "*/*"):
        return json.dumps({"predictions": [float(p) for p in prediction]}), JSON
    raise ValueError(f"unsupported accept type {accept!r}: ask for {CSV}, {JSON} or {JSONLINES}")


if __name__ == "__main__":
    main()
