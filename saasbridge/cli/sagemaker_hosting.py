"""`saasbridge sagemaker serve`: the local stand-in for SageMaker hosting (control plane, runtime,
transform jobs) on one loopback endpoint for AWS_ENDPOINT_URL."""

from __future__ import annotations

import argparse
from typing import Any

from saasbridge.cli.aws_options import add_aws_options, aws_access
from saasbridge.errors import ConfigError


def register(group_subparsers: Any) -> None:
    serve = group_subparsers.add_parser(
        "serve",
        help="serve SageMaker locally (endpoints, async, transform, training and Autopilot jobs) for AWS_ENDPOINT_URL",
        description="One loopback endpoint for boto3: InvokeEndpoint and InvokeEndpointAsync run the endpoint's "
        "model.tar.gz (read from the S3 stand-in) through its inference script's model_fn/input_fn/predict_fn/"
        "output_fn; transform, training (script mode) and Autopilot jobs run for real; the SageMaker control plane, S3 and everything else go to the "
        "moto server (--moto-url, or one started for the run).",
    )
    serve.add_argument("--port", type=int, default=9002, help="loopback port (default 9002, 0 = any free port)")
    serve.add_argument("--moto-url", help="the moto server to forward to (default: start one)")
    serve.add_argument("--parent-pid", type=int, default=0, help=argparse.SUPPRESS)
    add_aws_options(serve)  # the same command line as against SageMaker; the stand-in answers any caller
    serve.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saasbridge.local.sagemaker.standin import serve

    aws_access(args)  # the options are checked as everywhere else
    if args.moto_url and not args.moto_url.startswith(("http://127.", "http://localhost")):
        raise ConfigError(f"--moto-url {args.moto_url!r} must be a loopback http:// URL (the local moto server)")
    try:
        serve(args.port, args.moto_url, parent_pid=args.parent_pid)
    except OSError as exc:
        raise ConfigError(f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror}); choose another --port") from exc
    return 0
