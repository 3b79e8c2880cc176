"""`saasbridge predict ENTITY`: score an entity's rows with a SageMaker endpoint (real-time,
asynchronous or batch transform), the sealed scoring API, or an imported model, and write one
prediction per row into the SaaS."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from saasbridge.cli.connector_options import add_connector_options, csv_list, invoker_from_args

MODES = ("realtime", "async", "batch")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "predict",
        help="score an entity's rows (SageMaker endpoint, batch transform, scoring API or imported model) "
        "and write the predictions back",
        description="Reads the rows through the AppFlow connector (--where pushed down), sends the --features "
        "columns to the model (CSV without header unless the model package declares JSON Lines), and upserts "
        "one prediction per row into --into, keyed by entity, row id and model: a re-run replaces, never "
        "duplicates. Prints rows read, predicted, written and failed (with reasons); exits 1 if any failed.",
    )
    p.add_argument("entity", help="the entity to score, e.g. accounts")
    p.add_argument("--endpoint", help="a SageMaker endpoint name")
    p.add_argument("--model", help="instead of --endpoint: an imported model (directory from `saasbridge models "
                   "import`), an .onnx file or a model.tar.gz, scored in this process")
    p.add_argument("--scoring-url", help="call --endpoint through the sealed scoring API at this URL "
                   "(template.yaml's ScoringApiUrl output) instead of SageMaker directly")
    p.add_argument("--mode", choices=MODES, default="realtime", help="how to reach --endpoint (default realtime)")
    p.add_argument("--features", required=True, help="comma-separated feature columns, in the model's order")
    p.add_argument("--where", help="filter in AppFlow's filter language, e.g. \"country = 'DE'\"")
    p.add_argument("--id-column", help="the row id column (default: the entity's primary key)")
    p.add_argument("--into", default="predictions", help="the entity the predictions go to (default predictions)")
    p.add_argument("--content-type", choices=("text/csv", "application/jsonlines"),
                   help="model input format (default: what the model package declares, else text/csv)")
    p.add_argument("--model-name", help="the model name recorded (and, for --mode batch, the SageMaker model); "
                   "default: the endpoint's model")
    p.add_argument("--s3-uri", help="s3://bucket/prefix for async inputs and batch transform input/output")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument("--max-rows-per-request", type=int, default=1000, help="rows per request, also kept under 6 MB")
    p.add_argument("--instance-type", default="ml.m5.large", help="batch transform instance type")
    p.add_argument("--trust-pickle", action="store_true", help="allow a pickle/joblib --model (loading it runs its code)")
    aws = p.add_argument_group("AWS (the customer's account)")
    aws.add_argument("--role-arn", help="assume this role for the SageMaker calls (cross-account)")
    aws.add_argument("--external-id", help="the external id the role's trust policy asks for")
    aws.add_argument("--aws-region", help="region of the endpoint (default: the AWS configuration)")
    api = p.add_argument_group("scoring API")
    api.add_argument("--api-key-env", default="SAASBRIDGE_SCORING_API_KEY",
                     help="environment variable holding the scoring API key (default SAASBRIDGE_SCORING_API_KEY); "
                     "without it, requests are signed with AWS credentials (IAM auth)")
    add_connector_options(p)
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    from saasbridge.errors import ConfigError

    if bool(args.endpoint) == bool(args.model):
        raise ConfigError("give either --endpoint NAME (SageMaker) or --model PATH (scored in this process)")
    if args.scoring_url and (args.model or args.mode != "realtime"):
        raise ConfigError("--scoring-url calls --endpoint in real time; drop --model/--mode")
    if args.mode != "realtime" and not args.endpoint:
        raise ConfigError(f"--mode {args.mode} needs --endpoint")
    if args.mode in ("async", "batch") and not args.s3_uri:
        raise ConfigError(f"--mode {args.mode} needs --s3-uri s3://bucket/prefix for its input and output")
    if args.concurrency < 1 or args.max_rows_per_request < 1:
        raise ConfigError("--concurrency and --max-rows-per-request must be at least 1")
    if args.external_id and not args.role_arn:
        raise ConfigError("--external-id goes with --role-arn")


def build_scorer(args: argparse.Namespace) -> Any:
    """The scorer the options ask for."""
    import dataclasses
    import os

    from saasbridge.sagemaker import inference

    if args.model:
        return inference.load_scorer(args.model, trust_pickle=args.trust_pickle, name=args.model_name)
    from saasbridge.sagemaker.credentials import AwsAccess, aws_session

    session = aws_session(AwsAccess.from_env(os.environ, role_arn=args.role_arn, external_id=args.external_id,
                                             region=args.aws_region))  # fmt: skip
    if args.scoring_url:
        return inference.ScoringApiScorer(
            args.scoring_url, endpoint=args.endpoint or "", model=args.model_name, session=session,
            api_key=os.environ.get(args.api_key_env), content_type=args.content_type, concurrency=args.concurrency,
        )  # fmt: skip
    info = inference.describe_endpoint(session, args.endpoint, content_type=args.content_type)
    if args.model_name:
        info = dataclasses.replace(info, model=args.model_name)
    if args.mode == "batch":
        return inference.TransformScorer(session, info.model, args.s3_uri, endpoint=info.endpoint,
                                         instance_type=args.instance_type)  # fmt: skip
    if args.mode == "async":
        return inference.AsyncScorer(session, info, args.s3_uri, concurrency=args.concurrency)
    return inference.RealtimeScorer(session, info, concurrency=args.concurrency)


def run(args: argparse.Namespace) -> int:
    from saasbridge.local.local_aws import aws_for_flow
    from saasbridge.sagemaker.inference import Connection, PredictOptions, predict

    _check(args)
    invoker = invoker_from_args(args)
    options = PredictOptions(
        entity=args.entity, features=csv_list(args.features) or [], into=args.into, where=args.where,
        id_column=args.id_column, max_rows_per_request=args.max_rows_per_request,
        connection=Connection(invoker, args.secret_arn, args.profile, args.api_url),
        progress=False if args.no_progress else None,
    )  # fmt: skip
    scorer = build_scorer(args)
    if args.content_type and args.model:
        scorer.content_type = args.content_type
    with aws_for_flow(invoker, args.secret_arn, [args.s3_uri or ""]):
        result = predict(options, scorer)
    for line in result.failure_lines():
        print(line, file=sys.stderr)
    print(result.summary())
    return 1 if result.failed else 0
