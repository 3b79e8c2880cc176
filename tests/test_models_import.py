"""`saasbridge models import`: archives are checked before anything is unpacked, ONNX is preferred,
and a pickle is refused unless trusted (a pickle runs code when loaded)."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from saasbridge.cli import main
from saasbridge.sagemaker.inference import import_model, load_scorer
from saasbridge.sagemaker.inference.archive import ModelImportError
from saasbridge.sagemaker.inference.payload import CSV, batches, encode_features


@pytest.fixture(scope="module")
def fitted():
    """A small scikit-learn pipeline, its ONNX export (float64 input) and its joblib file."""
    import joblib
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 3)) * [1, 1000, 0.01]
    y = (x[:, 0] + x[:, 1] / 1000 > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    onnx = to_onnx(model, x[:1].astype(np.float64), options={"zipmap": False}).SerializeToString()
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return model, x, onnx, buffer.getvalue()


def _archive(path: Path, members: dict[str, bytes], *, extra=None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra:
            tar.addfile(extra)
    return path


def _scores(scorer, x: np.ndarray) -> np.ndarray:
    rows = [{f"f{j}": (None if np.isnan(v) else float(v)) for j, v in enumerate(r)} for r in x]
    lines = [(i, encode_features(r, ["f0", "f1", "f2"], CSV)) for i, r in enumerate(rows)]
    return np.array([p.score for b in batches(lines) for p in scorer.score(b)])


def test_onnx_is_preferred_and_agrees_with_scikit_learn(tmp_path, fitted):
    model, x, onnx, pickled = fitted
    archive = _archive(tmp_path / "model.tar.gz", {"model.onnx": onnx, "model.joblib": pickled, "code/train.py": b""})
    imported = import_model(str(archive), tmp_path / "store", name="churn")
    assert imported.kind == "onnx" and imported.model_file.name == "model.onnx"
    scorer = load_scorer(str(imported.directory))
    assert scorer.model == "churn"
    expected = model.predict_proba(x)[:, 1]
    np.testing.assert_allclose(_scores(scorer, x), expected, rtol=0, atol=1e-6)
    direct = load_scorer(str(archive))  # the archive itself, unpacked to a temporary place
    np.testing.assert_allclose(_scores(direct, x), expected, rtol=0, atol=1e-6)


def test_trusted_pickle_scores_like_the_model(tmp_path, fitted):
    model, x, _, pickled = fitted
    archive = _archive(tmp_path / "model.tar.gz", {"model.joblib": pickled})
    imported = import_model(str(archive), tmp_path / "store", trust_pickle=True)
    assert imported.kind == "pickle"
    scores = _scores(load_scorer(str(imported.directory), trust_pickle=True), x)
    np.testing.assert_array_equal(scores, model.predict_proba(x)[:, 1])


def test_pickle_is_refused_without_trust_in_one_line(tmp_path, fitted, capsys):
    archive = _archive(tmp_path / "model.tar.gz", {"model.joblib": fitted[3]})
    assert main(["models", "import", str(archive), "--to", str(tmp_path / "store")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pickle" in err and "--trust-pickle" in err
    assert not (tmp_path / "store").exists()
    with pytest.raises(ModelImportError, match="--trust-pickle"):
        load_scorer(str(tmp_path / "model.tar.gz"))


def test_predict_refuses_a_pickle_model_without_trust(tmp_path, fitted):
    (tmp_path / "model.joblib").write_bytes(fitted[3])
    done = subprocess.run(
        [sys.executable, "-m", "saasbridge", "predict", "accounts", "--model", str(tmp_path / "model.joblib"),
         "--features", "employees"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "--trust-pickle" in done.stderr


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("../escape.onnx"),
        tarfile.TarInfo("/abs/model.onnx"),
    ],
)
def test_members_outside_the_target_are_refused(tmp_path, fitted, member):
    member.size = len(fitted[2])
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(member, io.BytesIO(fitted[2]))
    with pytest.raises(ModelImportError, match="outside the archive"):
        import_model(str(path), tmp_path / "store")
    assert not (tmp_path / "escape.onnx").exists() and not (tmp_path / "store").exists()


def test_links_are_refused(tmp_path, fitted):
    link = tarfile.TarInfo("model.onnx")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive = _archive(tmp_path / "model.tar.gz", {"code/train.py": b""}, extra=link)
    with pytest.raises(ModelImportError, match="link or special file"):
        import_model(str(archive), tmp_path / "store")


def test_archive_without_a_model_and_garbage(tmp_path):
    archive = _archive(tmp_path / "model.tar.gz", {"code/train.py": b"print()"})
    with pytest.raises(ModelImportError, match="no model file"):
        import_model(str(archive), tmp_path / "store")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar")
    with pytest.raises(ModelImportError, match="not a readable"):
        import_model(str(junk), tmp_path / "store")


def test_import_from_s3(tmp_path, fitted, aws_env):
    import boto3

    archive = _archive(tmp_path / "model.tar.gz", {"model.onnx": fitted[2]})
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="models-in")
    s3.upload_file(str(archive), "models-in", "churn/v3/model.tar.gz")
    assert main(["models", "import", "s3://models-in/churn/v3/model.tar.gz", "--to", str(tmp_path / "store")]) == 0
    assert (tmp_path / "store" / "churn-v3" / "model.onnx").is_file()
