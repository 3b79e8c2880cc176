"""`model.tar.gz` as SageMaker packs it: the model directory's files at the archive root, the
inference script under `code/` (named by `SAGEMAKER_PROGRAM`)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from saasbridge.errors import SaasBridgeError
from saasbridge.sagemaker.safe_tar import UnsafeArchiveError, unpack_archive

CODE_DIR = "code"


class ModelArchiveError(SaasBridgeError):
    """A model archive that cannot be read or unpacked safely."""


def pack_model_dir(model_dir: str | os.PathLike) -> bytes:
    """The files of `model_dir` (recursively, paths relative to it) as a gzip tar, sorted by name."""
    root = Path(model_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    if not files:
        raise ModelArchiveError(f"{root} holds no files to pack; train the model into it first")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", dereference=True) as tar:  # a symlinked file packs as a file
        for path in files:
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    return buffer.getvalue()


def unpack_model(data: bytes, dest: str | os.PathLike, what: str = "model.tar.gz") -> Path:
    """Unpack a `model.tar.gz` into `dest` by the rule SageMaker-side imports follow (safe_tar:
    files and directories only, nothing outside `dest`, a size cap)."""
    target = Path(dest)
    target.mkdir(parents=True, exist_ok=True)
    try:
        unpack_archive(data, target, what=what)
    except UnsafeArchiveError as exc:
        raise ModelArchiveError(str(exc)) from None
    return target
