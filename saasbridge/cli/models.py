"""`saasbridge models import SRC`: bring a SageMaker model.tar.gz into the SaaS's own storage, checked,
to score it in process with `saasbridge predict ENTITY --model DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from saasbridge.cli.aws_options import add_aws_options, aws_session_from_args

DEFAULT_STORE = ".saasbridge/models"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("models", help="import models to score inside the SaaS (ONNX preferred)")
    sub = p.add_subparsers(dest="models_command", metavar="COMMAND", required=True)
    imp = sub.add_parser(
        "import",
        help="check and unpack a model.tar.gz (local path or s3://)",
        description="Unpacks only regular files and directories inside the target (no absolute paths, `..` or "
        "links), then picks the ONNX model; a pickle/joblib model is refused unless --trust-pickle, because "
        "loading a pickle runs its code.",
    )
    imp.add_argument("source", help="model.tar.gz: a path or s3://bucket/key")
    imp.add_argument("--to", default=DEFAULT_STORE, help=f"model store directory (default {DEFAULT_STORE})")
    imp.add_argument("--name", help="model name (default: from the archive's path)")
    imp.add_argument("--trust-pickle", action="store_true", help="accept a pickle/joblib model (runs its code)")
    add_aws_options(imp)  # for an s3:// source
    imp.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    from saasbridge.sagemaker.inference import import_model, load_scorer

    session = aws_session_from_args(args) if args.source.startswith("s3://") else None
    imported = import_model(args.source, Path(args.to), trust_pickle=args.trust_pickle, name=args.name,
                            session=session)  # fmt: skip
    load_scorer(str(imported.directory), trust_pickle=args.trust_pickle, name=imported.name)  # it must load
    print(f"imported {imported.name} ({imported.kind}: {imported.model_file.relative_to(imported.directory)}) "
          f"→ {imported.directory}")  # fmt: skip
    print(f"score with: saasbridge predict ENTITY --model {imported.directory} --features …")
    return 0
