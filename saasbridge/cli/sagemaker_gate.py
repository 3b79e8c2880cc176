"""`saasbridge sagemaker approve|approvals|status`: decide the gate's approval requests, list them,
and see which predictions a new model version made stale."""

from __future__ import annotations

import argparse
import getpass
import os
from typing import Any

from saasbridge.cli.sagemaker_modellog import add_options, open_log


def register(subparsers: Any) -> None:
    approve = subparsers.add_parser("approve", help="approve or reject a deployment's approval request",
                                    description="Records the decision on approvals/APPROVAL_ID in the SaaS; `deploy` "
                                    "run again mirrors it onto the Model Registry package and deploys (or records "
                                    "the rejection). Only a pending request takes a decision.")
    approve.add_argument("approval_id", metavar="APPROVAL_ID", help="the request's id (see `approvals list`)")
    choice = approve.add_mutually_exclusive_group(required=True)
    choice.add_argument("--approve", dest="decision", action="store_const", const="approved")
    choice.add_argument("--reject", dest="decision", action="store_const", const="rejected")
    approve.add_argument("--comment", help="why, for the record")
    approve.add_argument("--by", help="who decides (default: SAASBRIDGE_USER, else the login name)")
    approve.add_argument("--api-url", help="the SaaS API base URL (default: SAASBRIDGE_API_URL or the catalog's)")
    approve.set_defaults(func=run_approve)

    approvals = subparsers.add_parser("approvals", help="the deployments' approval requests")
    listing = approvals.add_subparsers(dest="approvals_command", metavar="SUBCOMMAND", parser_class=type(approvals))
    list_cmd = listing.add_parser("list", help="list approval requests (oldest first)")
    list_cmd.add_argument("--status", help="only requests with this status, e.g. pending")
    list_cmd.add_argument("--model", help="only requests for this SageMaker model")
    list_cmd.add_argument("--api-url", help="the SaaS API base URL (default: SAASBRIDGE_API_URL or the catalog's)")
    list_cmd.set_defaults(func=run_list)
    approvals.set_defaults(func=lambda _args: approvals.print_help() or 2)

    status = subparsers.add_parser("status", help="the model version each endpoint serves and how many "
                                   "predictions came from older versions",
                                   description="Per endpoint in service: the version it serves (model or package "
                                   "version @ endpoint configuration) and, per entity, how many rows' newest "
                                   "prediction from it came from an older version (`predict --stale-only` "
                                   "rescores exactly those).")
    status.add_argument("--model", help="only the endpoints serving this SageMaker model (or named so)")
    add_options(status)
    status.set_defaults(func=run_status)


def _writer(args: argparse.Namespace) -> Any:
    from saasbridge.runtime import Runtime
    from saasbridge.sagemaker.modellog.writer import ModelLogWriter

    env = dict(os.environ)
    if args.api_url:
        env["SAASBRIDGE_API_URL"] = args.api_url
    return ModelLogWriter(Runtime.from_env(env).client())


def run_approve(args: argparse.Namespace) -> int:
    from saasbridge.sagemaker.modellog.approvals import decide

    by = args.by or os.environ.get("SAASBRIDGE_USER") or getpass.getuser()
    print(decide(_writer(args), args.approval_id, args.decision, by=by, comment=args.comment))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from saasbridge.sagemaker.modellog.approvals import list_approvals
    from saasbridge.sagemaker.modellog.ids import arn_name

    found = list_approvals(_writer(args), status=args.status, model=args.model)
    for r in found:
        decided = f" ({r['decision']} by {r.get('decided_by') or '?'})" if r.get("decision") else ""
        reason = f": {r['failure_reason']}" if r.get("failure_reason") else ""
        print(f"{r['id']}  {r['status']}{decided}  model {r['model_name']} on {arn_name(r['endpoint_config_arn'])} "
              f"→ endpoint {r['endpoint_name']}{reason}")  # fmt: skip
    if not found:
        print("no approval requests" + (" matching" if args.status or args.model else ""))
    return 0


def run_status(args: argparse.Namespace) -> int:
    from saasbridge.sagemaker.modellog.status import model_status

    log = open_log(args)
    found = model_status(log.session, log.writer.client, model=args.model)
    for status in found:
        print("\n".join(status.lines()))
    if not found:
        print("no endpoint in service")
    return 0
