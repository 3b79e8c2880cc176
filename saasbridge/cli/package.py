"""`saasbridge package`: build the Lambda deployment zip(s) that template.yaml deploys."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "package",
        help="build the Lambda deployment package (zip per architecture) from manylinux wheels",
        description="Build the deployment package for both connectors from manylinux wheels (no Docker), "
        "add the catalog to serve, strip it, check it against Lambda's 250 MB limit and write build/lambda/deploy.zip for "
        "`sam deploy`.",
    )
    parser.add_argument("--arch", choices=("arm64", "x86_64", "both"), default="arm64",
                        help="target architecture (default arm64, the template's default)")
    parser.add_argument("--python", default="3.12", help="Lambda Python version (default 3.12)")
    parser.add_argument("--output", type=Path, default=Path("build/lambda"),
                        help="output directory (default build/lambda)")
    parser.add_argument("--catalog", metavar="FILE", type=Path, default=None,
                        help="catalog the functions serve, validated and shipped as saasbridge_catalog.yaml "
                        "(default: $SAASBRIDGE_CATALOG or the bundled demo catalog)")
    parser.add_argument("--with-boto3", action="store_true",
                        help="bundle boto3/botocore instead of using the Lambda runtime's copy")
    parser.add_argument("--wheel-cache", type=Path, default=None,
                        help="wheel cache directory (default $SAASBRIDGE_WHEEL_CACHE or ~/.cache/saasbridge/wheels)")
    parser.add_argument("--refresh", action="store_true",
                        help="resolve against the package index again instead of reusing cached wheels")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saasbridge.build.lambda_package import build_all

    arches = ("arm64", "x86_64") if args.arch == "both" else (args.arch,)
    build_all(arches, python=args.python, output=args.output, include_boto3=args.with_boto3,
              cache=args.wheel_cache, refresh=args.refresh, catalog=args.catalog)
    return 0
