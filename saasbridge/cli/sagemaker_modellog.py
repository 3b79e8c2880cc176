"""`saasbridge sagemaker import|sync|deploy`: the SageMaker model log in the SaaS."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from saasbridge.cli.aws_options import add_aws_options, aws_session_from_args


def add_options(p: argparse.ArgumentParser) -> None:
    """The AWS credentials group, and where the model log lives."""
    add_aws_options(p)
    p.add_argument("--api-url", help="the SaaS API base URL (default: SAASBRIDGE_API_URL or the catalog's)")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")


def register(subparsers: Any) -> None:
    imp = subparsers.add_parser("import", help="import one model and everything related into the model log",
                                description="Upserts the model, its training job, transform jobs, endpoint "
                                "configurations, endpoints and Model Registry packages; an unchanged asset "
                                "writes nothing.")
    imp.add_argument("--model", required=True, help="the SageMaker model name")
    add_options(imp)
    imp.set_defaults(func=run_import)

    sync = subparsers.add_parser("sync", help="sync every (or every tagged) model into the model log",
                                 description="With --since, describes and writes only what changed since "
                                 "then (model packages are re-read every time; a change of tags alone waits for a "
                                 "full sync). Assets gone from SageMaker are marked deleted.")
    sync.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                      help="only models with this tag (repeatable: all must match)")
    sync.add_argument("--since", help="ISO-8601 time of the previous sync (incremental)")
    sync.add_argument("--gate", action="store_true", help="mirror approval decisions between the SaaS and the "
                      "Model Registry, and start the gated deployment (see deploy) for each endpoint configuration "
                      "the sync newly logged that no endpoint runs yet, on the endpoint serving the model today")
    add_options(sync)
    sync.set_defaults(func=run_sync)

    dep = subparsers.add_parser("deploy", help="deploy a model behind checks, a test transform and an approval",
                                description="Checks the assets recorded for the model (documentation, schema, "
                                "test data), runs the test transform, records an approval request, and creates or "
                                "updates the endpoint once a reviewer set decision=approved on it. Exit 0: deployed "
                                "or pending; 1: failed or rejected (recorded).")
    dep.add_argument("--model", required=True, help="the SageMaker model name")
    dep.add_argument("--config", required=True, help="the endpoint configuration to deploy")
    dep.add_argument("--endpoint", help="endpoint name (default: the model name)")
    dep.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="wait this long for the decision")
    dep.add_argument("--poll", type=float, default=10, metavar="SECONDS", help="poll interval (default 10)")
    dep.add_argument("--test-instance-type", default="ml.m5.large", help="instance type of the test transform")
    dep.add_argument("--test-output", metavar="S3_URL", help="where the test transform writes (default: next to "
                     "the test data)")
    dep.add_argument("--content-type", help="of the test data (default: the model's recorded input_content_type, "
                     "its package's first SupportedContentTypes, else text/csv)")
    dep.add_argument("--accept", help="the output format the test transform asks for (default: the model's recorded "
                     "output_content_type, its package's first SupportedResponseMIMETypes, else text/csv)")
    dep.add_argument("--retest", action="store_true", help="run a failed test again (same request, a new job)")
    add_options(dep)
    dep.set_defaults(func=run_deploy)


def open_log(args: argparse.Namespace, since: Any = None) -> Any:
    from saasbridge.runtime import Runtime
    from saasbridge.sagemaker.modellog import ModelLog

    env = dict(os.environ)
    if args.api_url:
        env["SAASBRIDGE_API_URL"] = args.api_url
    progress = None if args.no_progress else (lambda message: print(message, file=sys.stderr, flush=True))
    return ModelLog.open(aws_session_from_args(args), Runtime.from_env(env).client(), since=since, progress=progress)


def run_import(args: argparse.Namespace) -> int:
    print(open_log(args).import_model(args.model).summary())
    return 0


def run_sync(args: argparse.Namespace) -> int:
    from saasbridge.errors import ConfigError
    from saasbridge.sagemaker.modellog import parse_since

    tags = {}
    for item in args.tag:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--tag {item!r} is not KEY=VALUE")
        tags[key] = value
    from saasbridge.sagemaker.modellog.deploy import gate_new_configurations, mirror_decisions

    log = open_log(args, parse_since(args.since))
    result = log.sync(tags)
    if not args.gate:
        print(result.summary())
        return 0
    mirrored = mirror_decisions(log)
    print(result.summary() + (f"; mirrored {mirrored} approval decision(s)" if mirrored else ""))
    outcomes = gate_new_configurations(log)
    for outcome in outcomes:
        print(outcome.message)
    return 1 if any(o.failed for o in outcomes) else 0


def run_deploy(args: argparse.Namespace) -> int:
    from saasbridge.sagemaker.modellog.deploy import DeployOptions, deploy

    options = DeployOptions(
        model=args.model, config=args.config, endpoint=args.endpoint, wait_seconds=args.wait,
        poll_seconds=args.poll, instance_type=args.test_instance_type, test_output_url=args.test_output,
        content_type=args.content_type, accept=args.accept, retest=args.retest,
    )
    outcome = deploy(open_log(args), options)
    print(outcome.message)
    return 1 if outcome.failed else 0
