"""`model.tar.gz` as SageMaker packs it: the model directory's files at the archive root, the
inference script under `code/` (named by `SAGEMAKER_PROGRAM`)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from saasbridge.errors import SaasBridgeError

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
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in files:
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    return buffer.getvalue()


def unpack_model(data: bytes, dest: str | os.PathLike) -> Path:
    """Unpack a `model.tar.gz` into `dest`; members that would land outside it, links and device
    files are refused (tarfile's `data` filter)."""
    target = Path(dest)
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise ModelArchiveError(f"not a readable model.tar.gz: {exc}") from None
    return target
