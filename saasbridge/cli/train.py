"""`saasbridge train ENTITY`: train a SageMaker model on an entity's records (a script-mode training job,
or Autopilot), create the model and write job and model into the model log. A thin layer over
`saasbridge.sagemaker.training`."""

from __future__ import annotations

import argparse
import os
from typing import Any

from saasbridge.cli.aws_options import add_aws_options, aws_session_from_args
from saasbridge.cli.connector_options import add_connector_options, csv_list, invoker_from_args

ROLE_ENV = "SAASBRIDGE_SAGEMAKER_EXECUTION_ROLE"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a SageMaker model on an entity's records (script mode or Autopilot) and log it",
        description="Extracts the training channels through the AppFlow connector (target first, then the "
        "features; train/validation split by the primary key's hash), uploads them and the script's source, and "
        "starts a SageMaker training job in script mode as the SageMaker SDK does (or an Autopilot job with "
        "--autopilot). With --wait: follows it (status and log lines on stderr), creates the model from its "
        "artifacts (served by the same script's model_fn/predict_fn, or by the best Autopilot candidate) and "
        "writes job and model into the model log; prints the job, its metrics and the model. Without --wait: "
        "prints the job name and returns (--attach JOB does the rest later). Exit 1 when the job fails (recorded "
        "as failed).",
    )
    p.add_argument("entity", nargs="?", help="the entity whose records train the model, e.g. contacts")
    p.add_argument("--target", help="the column to predict (numeric or boolean)")
    p.add_argument("--attach", metavar="JOB", help="instead of starting a job: follow one started without --wait to "
                   "its end, create its model and log both")
    p.add_argument("--features", help="comma-separated feature columns (numeric or boolean), in order (default: every "
                   "numeric or boolean field but the target and the primary key, in the entity's order)")
    p.add_argument("--where", help="filter in AppFlow's filter language, e.g. \"country = 'DE'\"")
    p.add_argument("--output", metavar="S3_URL",
                   help="s3://bucket/prefix for the channels, the source and the job's artifacts")
    p.add_argument("--execution-role", default=os.environ.get(ROLE_ENV), metavar="ROLE_ARN",
                   help=f"the IAM role SageMaker runs the job and serves the model with (default: {ROLE_ENV})")
    p.add_argument("--job-name", help="the job name's prefix (default: the entity); a timestamp is appended")
    p.add_argument("--validation-fraction", type=float, default=0.2, help="share of rows in validation (default 0.2)")
    p.add_argument("--wait", action="store_true", help="follow the job to its end, then create and log the model")
    p.add_argument("--timeout", type=float, default=86400.0, metavar="SECONDS",
                   help="with --wait: stop the job if it has not ended after this long (default 86400)")
    p.add_argument("--poll", type=float, default=5.0, metavar="SECONDS", help="with --wait: poll interval (default 5)")
    script = p.add_argument_group("script mode (SageMaker framework container)")
    script.add_argument("--entry-point", metavar="SCRIPT", help="the training script (e.g. examples/train.py)")
    script.add_argument("--source-dir", metavar="DIR", help="folder uploaded with the script (--entry-point is "
                        "relative to it); default: the script alone")
    script.add_argument("--hyperparameters", nargs="+", action="extend", default=[], metavar="K=V",
                        help="hyperparameters, passed to the script as --K V")
    script.add_argument("--framework", default="sklearn", choices=("sklearn",), help="framework image (default sklearn)")
    script.add_argument("--image", metavar="URI", help="a training (and inference) image instead of --framework's")
    script.add_argument("--instance-type", default="ml.m5.large", help="training instance type (default ml.m5.large)")
    script.add_argument("--metric", nargs="+", action="extend", default=[], metavar="NAME=REGEX",
                        help="a metric read from the script's output, e.g. 'validation:accuracy=accuracy=([0-9.]+)'")
    auto = p.add_argument_group("Autopilot (AutoML V2, tabular)")
    auto.add_argument("--autopilot", action="store_true", help="let Autopilot search for the model instead of a script")
    auto.add_argument("--problem-type", choices=("BinaryClassification", "MulticlassClassification", "Regression"),
                      help="default: Autopilot infers it from the target")
    auto.add_argument("--objective", help="Autopilot's objective metric, e.g. F1, Accuracy, MSE (default: by type)")
    auto.add_argument("--max-candidates", type=int, help="at most this many candidates")
    add_aws_options(p)  # for the SageMaker and S3 calls
    p.add_argument("--aws-region", dest="region", help=argparse.SUPPRESS)  # the option's earlier name
    add_connector_options(p, aws_options=True)
    p.set_defaults(func=run)


def pairs(items: list[str], flag: str, example: str) -> dict[str, str]:
    """`K=V` arguments as a mapping (the first `=` separates); one-line error otherwise."""
    from saasbridge.errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r} is not {example}")
        out[key.strip()] = value
    return out


def _check_attach(args: argparse.Namespace) -> None:
    from saasbridge.errors import ConfigError

    given = [flag for flag, value in [("ENTITY", args.entity), ("--target", args.target), ("--output", args.output),
                                      ("--entry-point", args.entry_point), ("--autopilot", args.autopilot)] if value]  # fmt: skip
    if given:
        raise ConfigError(f"--attach follows a job already started: drop {', '.join(given)}")


def options_from_args(args: argparse.Namespace, say: Any) -> Any:
    from saasbridge.errors import ConfigError
    from saasbridge.sagemaker.training import AutopilotJob, ScriptJob, TrainOptions
    from saasbridge.sagemaker.training.script_mode import parse_value

    missing = [flag for flag, value in [("ENTITY", args.entity), ("--target", args.target), ("--output", args.output)]
               if not value]  # fmt: skip
    if missing:
        raise ConfigError(f"give {', '.join(missing)} (or --attach JOB to follow a job already started)")
    script = autopilot = None
    if args.autopilot:
        if args.entry_point or args.source_dir or args.hyperparameters or args.metric or args.image:
            raise ConfigError("--autopilot chooses its own model: drop --entry-point/--source-dir/--hyperparameters/"
                              "--metric/--image")  # fmt: skip
        autopilot = AutopilotJob(args.problem_type, args.objective, args.max_candidates)
    elif not args.entry_point:
        raise ConfigError("name the training script with --entry-point SCRIPT, or use --autopilot")
    elif args.problem_type or args.objective or args.max_candidates:
        raise ConfigError("--problem-type/--objective/--max-candidates go with --autopilot")
    else:
        hps = {k: parse_value(v) for k, v in pairs(args.hyperparameters, "--hyperparameters", "K=V").items()}
        script = ScriptJob(args.entry_point, args.source_dir, hps, pairs(args.metric, "--metric", "NAME=REGEX"),
                           args.image, args.framework, args.instance_type)  # fmt: skip
    return TrainOptions(
        entity=args.entity, target=args.target, features=csv_list(args.features) or [], output=args.output,
        role_arn=args.execution_role or "", script=script, autopilot=autopilot, where=args.where, wait=args.wait,
        base_job_name=args.job_name, validation_fraction=args.validation_fraction, timeout_seconds=args.timeout,
        poll_seconds=args.poll, say=say,
    ).checked()  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from saasbridge.runtime import Runtime
    from saasbridge.sagemaker.inference import Connection
    from saasbridge.sagemaker.training import TrainingJobFailed, finish, train

    session = aws_session_from_args(args)
    env = dict(os.environ)
    if args.api_url:
        env["SAASBRIDGE_API_URL"] = args.api_url
    saas = Runtime.from_env(env).client()
    say = (lambda _line: None) if args.no_progress else None
    try:
        if args.attach:
            _check_attach(args)
            result = finish(args.attach, session, saas, timeout_seconds=args.timeout, poll_seconds=args.poll, say=say)
        else:
            options = options_from_args(args, say)
            appflow = Connection(invoker_from_args(args, aws_options=True), args.secret_arn, args.profile,
                                 args.api_url).open()  # fmt: skip
            result = train(options, session, saas, appflow)
    except TrainingJobFailed as exc:
        print(exc.result.summary())
        raise
    print(result.summary())
    return 0
