"""A SageMaker script-mode training entry point for `saasbridge extract --for-training` channels.

SageMaker passes the channels as directories in `SM_CHANNEL_TRAIN` / `SM_CHANNEL_VALIDATION` and
expects the model in `SM_MODEL_DIR` (outputs in `SM_OUTPUT_DATA_DIR`). The CSV files have no
header and the target first; an empty field is a missing value (imputed with the training mean).
The model is a logistic regression fitted by batch gradient descent (numpy only) on standardised
features; a non-binary target is first turned into "above the training median".

    python examples/train.py --epochs 300 --learning-rate 0.1
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np


def load_channel(directory: str) -> np.ndarray:
    """All CSV files of a channel as one float matrix (NaN for empty fields)."""
    files = sorted(p for p in Path(directory).rglob("*.csv") if p.is_file())
    if not files:
        raise SystemExit(f"no CSV files in channel {directory}")
    parts = []
    for path in files:
        text = path.read_text().strip()
        if not text:
            continue
        rows = [
            [float(cell) if cell != "" else np.nan for cell in line.split(",")] for line in text.splitlines()
        ]
        parts.append(np.array(rows, dtype=float))
    if not parts:
        raise SystemExit(f"channel {directory} holds no rows")
    return np.vstack(parts)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def fit(x: np.ndarray, y: np.ndarray, *, epochs: int, learning_rate: float) -> tuple[np.ndarray, float]:
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(epochs):
        error = sigmoid(x @ w + b) - y
        w -= learning_rate * (x.T @ error) / len(y)
        b -= learning_rate * float(error.mean())
    return w, b


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--output-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR"))
    args = parser.parse_args()
    if not (args.train and args.model_dir):
        raise SystemExit("set SM_CHANNEL_TRAIN and SM_MODEL_DIR (or --train / --model-dir)")

    train = load_channel(args.train)
    y_raw, x = train[:, 0], train[:, 1:]
    binary = set(np.unique(y_raw)) <= {0.0, 1.0}
    threshold = 0.5 if binary else float(np.median(y_raw))
    y = (y_raw > threshold).astype(float)
    mean = np.nanmean(x, axis=0) if x.shape[1] else np.zeros(0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    x = np.where(np.isnan(x), mean, x)
    scale = x.std(axis=0) if x.shape[1] else np.zeros(0)
    scale = np.where(scale == 0, 1.0, scale)
    xs = (x - mean) / scale
    w, b = fit(xs, y, epochs=args.epochs, learning_rate=args.learning_rate)

    metrics = {"train_rows": len(y), "features": int(x.shape[1]), "threshold": threshold,
               "train_log_loss": log_loss(sigmoid(xs @ w + b), y),
               "train_accuracy": float(((sigmoid(xs @ w + b) >= 0.5) == y).mean())}  # fmt: skip
    if args.validation and Path(args.validation).is_dir():
        val = load_channel(args.validation)
        vy = (val[:, 0] > threshold).astype(float)
        vx = (np.where(np.isnan(val[:, 1:]), mean, val[:, 1:]) - mean) / scale
        p = sigmoid(vx @ w + b)
        metrics.update(validation_rows=len(vy), validation_log_loss=log_loss(p, vy),
                       validation_accuracy=float(((p >= 0.5) == vy).mean()))  # fmt: skip

    model_dir = Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    model = {"kind": "logistic_regression", "weights": w.tolist(), "bias": b, "feature_mean": mean.tolist(),
             "feature_scale": scale.tolist(), "threshold": threshold}  # fmt: skip
    (model_dir / "model.json").write_text(json.dumps(model, indent=1))
    out_dir = Path(args.output_dir) if args.output_dir else model_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
