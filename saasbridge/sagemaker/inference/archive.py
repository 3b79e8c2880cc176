"""Importing a model into the SaaS: a SageMaker `model.tar.gz` (local or s3://) is checked and
unpacked by the one archive rule (saasbridge/sagemaker/safe_tar.py: files and directories only, all
inside the target, a size cap), and
the model file to score with is chosen: ONNX first; a pickle/joblib file only when trusted, since
loading a pickle runs code."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saasbridge.errors import ConfigError, aws_error_line
from saasbridge.s3url import is_s3_url, parse_s3_url
from saasbridge.sagemaker.safe_tar import UnsafeArchiveError, unpack_archive

ONNX_SUFFIXES = (".onnx",)
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


class ModelImportError(ConfigError):
    """The archive is unsafe, unreadable, or holds no model we may load."""


@dataclass(frozen=True)
class ImportedModel:
    name: str
    directory: Path  # the unpacked archive
    model_file: Path  # what `predict --model` scores with
    kind: str  # "onnx" or "pickle"


def fetch(source: str, into: Path, session: Any = None) -> Path:
    """The archive at `source` (a path or s3://bucket/key, read with `session`, else boto3's default)
    as a local file."""
    if not is_s3_url(source):
        path = Path(source).expanduser()
        if not path.is_file():
            raise ModelImportError(f"{source}: no such file; give a model.tar.gz path or an s3:// URL")
        return path
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        where = parse_s3_url(source, "the model archive", need_key=True)
    except ConfigError as exc:
        raise ModelImportError(str(exc)) from None
    target = into / where.name
    try:
        (session or boto3).client("s3").download_file(where.bucket, where.key, str(target))
    except (ClientError, BotoCoreError) as exc:
        raise ModelImportError(f"cannot download {source}: {aws_error_line(exc)}") from None
    return target


def unpack(archive: Path, into: Path) -> None:
    """Unpack by the one archive rule (safe_tar); nothing is written when one member is unsafe."""
    try:
        unpack_archive(archive, into, what=archive.name)
    except UnsafeArchiveError as exc:
        raise ModelImportError(str(exc)) from None


def choose_model_file(directory: Path, *, trust_pickle: bool, what: str) -> tuple[Path, str]:
    """The ONNX file if there is one, else a pickle/joblib file when `trust_pickle`."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    onnx = [p for p in files if p.suffix.lower() in ONNX_SUFFIXES]
    if len(onnx) > 1:
        names = ", ".join(str(p.relative_to(directory)) for p in onnx)
        raise ModelImportError(f"{what}: several ONNX files ({names}); keep one model per archive")
    if onnx:
        return onnx[0], "onnx"
    pickles = [p for p in files if p.suffix.lower() in PICKLE_SUFFIXES]
    if not pickles:
        raise ModelImportError(f"{what}: no model file (.onnx, or .joblib/.pkl with --trust-pickle) in the archive")
    if not trust_pickle:
        raise ModelImportError(
            f"{what}: the model is a pickle ({pickles[0].name}), and loading a pickle runs its code; "
            "export it to ONNX, or pass --trust-pickle if you trust where it comes from"
        )
    return pickles[0], "pickle"


def import_model(
    source: str, into: Path, *, trust_pickle: bool = False, name: str | None = None, session: Any = None
) -> ImportedModel:
    """Fetch, check and unpack `source` into `into/<name>`; replaces an earlier import of `name`."""
    name = name or _name_of(source)
    target = into / name
    with tempfile.TemporaryDirectory(prefix="saasbridge-model-") as tmp:
        archive = fetch(source, Path(tmp), session)
        staging = Path(tmp) / "unpacked"
        staging.mkdir()
        unpack(archive, staging)
        model_file, kind = choose_model_file(staging, trust_pickle=trust_pickle, what=source)
        relative = model_file.relative_to(staging)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)
    return ImportedModel(name, target, target / relative, kind)


def _name_of(source: str) -> str:
    """`s3://b/churn/v3/model.tar.gz` → `churn-v3`; `./churn.tar.gz` → `churn`."""
    parts = [p for p in source.rstrip("/").split("/") if p and not p.startswith("s3:")]
    last = parts[-1] if parts else "model"
    stem = last.removesuffix(".tar.gz").removesuffix(".tgz")
    if stem == "model" and len(parts) > 1:
        stem = "-".join(parts[-3:-1]) if len(parts) > 2 else parts[-2]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem).strip("-.")
    return safe or "model"
