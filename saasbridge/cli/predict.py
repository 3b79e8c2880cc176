"""`saasbridge predict ENTITY`: score an entity's rows with a SageMaker endpoint (real-time,
asynchronous or batch transform), the sealed scoring API, or an imported model, and write one
prediction per row into the SaaS."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from saasbridge.cli.aws_options import add_aws_options, aws_session_from_args
from saasbridge.cli.connector_options import add_connector_options, invoker_from_args
from saasbridge.cli.foundation_options import (
    add_foundation_options,
    check_foundation_options,
    foundation_scorer,
    text_input,
)

MODES = ("realtime", "async", "batch")
CONTENT_TYPES = ("text/csv", "application/json", "application/jsonlines")
DEFAULT_LOG = ".saasbridge/predict.log"
MODEL_FAILURES = ("ModelError", "the async inference failed")  # reasons whose full text is in the log


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "predict",
        help="score an entity's rows (SageMaker endpoint, batch transform, scoring API or imported model) "
        "and write the predictions back",
        description="Checks the endpoint, the features and the target before reading a row; then reads the rows "
        "through the AppFlow connector (--where pushed down), sends the --features columns to the model (CSV of "
        "floats without header; JSON {\"instances\": [...]} or JSON Lines when the model package declares them "
        "or --content-type says so), and upserts one prediction per row into --into, keyed by entity, row id and "
        "model: a re-run replaces, never duplicates. Prints rows read, predicted, written and failed (with "
        "reasons); exits 1 if any failed.",
    )
    p.add_argument("entity", help="the entity to score, e.g. accounts")
    p.add_argument("--endpoint", help="a SageMaker endpoint name")
    p.add_argument("--model", help="instead of --endpoint: an imported model (directory from `saasbridge models "
                   "import`), an .onnx file or a model.tar.gz, scored in this process")
    p.add_argument("--scoring-url", help="call --endpoint through the sealed scoring API at this URL "
                   "(template.yaml's ScoringApiUrl output) instead of SageMaker directly")
    p.add_argument("--mode", choices=MODES, default="realtime", help="how to reach --endpoint (default realtime; "
                   "a serverless endpoint is real-time); --mode batch runs --model-name without an endpoint")
    p.add_argument("--features", help="comma-separated feature columns, in the model's order (not with --task)")
    p.add_argument("--where", help="filter in AppFlow's filter language, e.g. \"country = 'DE'\"")
    p.add_argument("--id-column", help="the row id column (default: the entity's primary key)")
    p.add_argument("--into", default="predictions", help="the entity the predictions go to (default predictions)")
    p.add_argument("--stale-only", action="store_true", help="score only the rows whose prediction from --endpoint "
                   "is missing or from an older model version than the one serving now")
    p.add_argument("--content-type", choices=CONTENT_TYPES,
                   help="model input format (default: the model log's input_content_type for the model, else what "
                   "its model package declares, else text/csv)")
    p.add_argument("--accept", choices=CONTENT_TYPES,
                   help="model answer format (default: the model log's output_content_type, else what the model "
                   "package declares, else the input format)")
    p.add_argument("--output-field", metavar="NAME",
                   help="the key of the score in a JSON answer's objects, e.g. probabilities (default: score, "
                   "probability, probabilities, scores, prediction, predicted_value)")
    p.add_argument("--class", dest="klass", metavar="INDEX_OR_LABEL",
                   help="which class of per-class scores (several CSV columns, a list): an index, or a label the "
                   "answer lists under labels/classes (default: the last, a binary classifier's positive class)")
    p.add_argument("--model-name", help="the model name recorded (and, for --mode batch, the SageMaker model); "
                   "default: the endpoint's model")
    p.add_argument("--s3-uri", help="s3://bucket/prefix for async inputs and batch transform input/output")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument("--max-rows-per-request", type=int, default=1000, help="rows per request, also kept under 6 MB")
    p.add_argument("--instance-type", default="ml.m5.large", help="batch transform instance type")
    p.add_argument("--trust-pickle", action="store_true", help="allow a pickle/joblib --model (loading it runs its code)")
    p.add_argument("--checkpoint", metavar="FILE", help="record the rows written in FILE; a re-run with the same FILE "
                   "skips them (resumes an interrupted run)")
    p.add_argument("--log-file", default=DEFAULT_LOG, help=f"where the full text of model errors goes (default "
                   f"{DEFAULT_LOG}; a failure line shows the first line)")
    add_foundation_options(p)
    add_aws_options(p)
    p.add_argument("--aws-region", dest="region", help=argparse.SUPPRESS)  # the option's earlier name
    api = p.add_argument_group("scoring API")
    api.add_argument("--api-key-env", default="SAASBRIDGE_SCORING_API_KEY",
                     help="environment variable holding the scoring API key (default SAASBRIDGE_SCORING_API_KEY); "
                     "without it, requests are signed with AWS credentials (IAM auth)")
    add_connector_options(p, aws_options=True)
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    from saasbridge.errors import ConfigError

    batch_model = args.mode == "batch" and args.model_name and not args.endpoint
    if bool(args.endpoint) == bool(args.model) and not batch_model:
        raise ConfigError("give either --endpoint NAME (SageMaker), --model PATH (scored in this process), or "
                          "--mode batch --model-name NAME (a transform job without an endpoint)")
    if args.scoring_url and (args.model or args.mode != "realtime"):
        raise ConfigError("--scoring-url calls --endpoint in real time; drop --model/--mode")
    if args.mode == "batch" and args.model and not args.endpoint:
        raise ConfigError("--mode batch runs a SageMaker model: give --model-name NAME (or --endpoint), not --model")
    if args.mode == "async" and not args.endpoint:
        raise ConfigError("--mode async needs --endpoint (an asynchronous endpoint)")
    if args.mode in ("async", "batch") and not args.s3_uri:
        raise ConfigError(f"--mode {args.mode} needs --s3-uri s3://bucket/prefix for its input and output")
    if args.concurrency < 1 or args.max_rows_per_request < 1:
        raise ConfigError("--concurrency and --max-rows-per-request must be at least 1")
    check_foundation_options(args)
    if not args.task and not args.features:
        raise ConfigError("--features: name the feature columns, in the order the model was trained on")


def build_scorer(args: argparse.Namespace) -> Any:
    """The scorer the options ask for."""
    import dataclasses
    import os

    from saasbridge.sagemaker import inference
    from saasbridge.sagemaker.inference.endpoint import (
        EndpointInfo,
        check_mode,
        check_model,
        describe_endpoint,
    )
    from saasbridge.sagemaker.inference.payload import CSV, canonical_type

    if args.model:
        scorer = inference.load_scorer(args.model, trust_pickle=args.trust_pickle, name=args.model_name)
        scorer.content_type = args.content_type or scorer.content_type
        return scorer
    session = aws_session_from_args(args)
    if args.scoring_url:
        scorer = inference.ScoringApiScorer(
            args.scoring_url, endpoint=args.endpoint or "", model=args.model_name, session=session,
            api_key=os.environ.get(args.api_key_env), content_type=args.content_type, concurrency=args.concurrency,
        )  # fmt: skip
        scorer.accept = args.accept
        return scorer
    if args.endpoint:
        info = describe_endpoint(session, args.endpoint, content_type=args.content_type, accept=args.accept)
        check_mode(info, args.mode)
    else:  # --mode batch --model-name NAME: the model must exist
        check_model(session, args.model_name)
        info = EndpointInfo("", args.model_name, canonical_type(args.content_type or CSV), args.accept)
    if args.model_name:
        info = dataclasses.replace(info, model=args.model_name)
    if args.task:
        return foundation_scorer(args, session, info)
    if args.mode == "batch":
        scorer = inference.TransformScorer(session, info.model, args.s3_uri, endpoint=info.endpoint or None,
                                           instance_type=args.instance_type)  # fmt: skip
        scorer.content_type, scorer.accept = info.content_type, info.accept
        return scorer
    if args.mode == "async":
        return inference.AsyncScorer(session, info, args.s3_uri, concurrency=args.concurrency)
    return inference.RealtimeScorer(session, info, concurrency=args.concurrency)


def serving_version(args: argparse.Namespace) -> str | None:
    """The model version --endpoint serves now (recorded with each prediction)."""
    from saasbridge.sagemaker.inference.version import serving_version as version_of

    return version_of(aws_session_from_args(args), args.endpoint)


def run(args: argparse.Namespace) -> int:
    from saasbridge.local.local_aws import aws_for_flow
    from saasbridge.sagemaker.inference import Connection, PredictOptions, predict
    from saasbridge.sagemaker.inference.payload import OutputSpec
    from saasbridge.sagemaker.inference.run import check_feature_names

    _check(args)
    invoker = invoker_from_args(args, aws_options=True)
    options = PredictOptions(
        entity=args.entity, features=[n.strip() for n in args.features.split(",")] if args.features else [],
        into=args.into, where=args.where, id_column=args.id_column, max_rows_per_request=args.max_rows_per_request,
        connection=Connection(invoker, args.secret_arn, args.profile, args.api_url),
        progress=False if args.no_progress else None, text=text_input(args), checkpoint=args.checkpoint,
        stale_only=args.stale_only, content_type=args.content_type, accept=args.accept,
    )  # fmt: skip
    if not args.task:
        check_feature_names(options.features)
    scorer = build_scorer(args)
    scorer.output = OutputSpec(args.output_field, args.klass)
    if args.endpoint:
        scorer.version = serving_version(args)
    with aws_for_flow(invoker, args.secret_arn, [args.s3_uri or ""]), model_error_log(args.log_file):
        result = predict(options, scorer)
    for line in result.failure_lines():
        print(line, file=sys.stderr)
    if Path(args.log_file).expanduser().exists() and any(r.startswith(MODEL_FAILURES) for r in result.failures):
        print(f"the models' full error texts: {args.log_file}", file=sys.stderr)
    print(result.summary())
    return 1 if result.failed else 0


@contextmanager
def model_error_log(path: str) -> Iterator[None]:
    """The full text of model errors (the failure lines show their first line) appended to `path`."""
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(Path(path).expanduser(), delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger("saasbridge.predict")
    logger.addHandler(handler)
    previous, logger.propagate = logger.propagate, False  # not also on stderr
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = previous
        handler.close()
