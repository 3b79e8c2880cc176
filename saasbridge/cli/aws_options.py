"""The one set of AWS credentials options of every command that touches SageMaker (`sagemaker
import|sync|deploy|serve`, `predict`, `models import`, and any later one): the same group, the same
help, turned into the same `AwsAccess` (saasbridge.sagemaker.credentials). Secrets (keys, session
token, the token file's content) come only from the environment, never from arguments."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

GROUP_TITLE = "AWS credentials (SageMaker)"
GROUP_DESCRIPTION = (
    "Default: the standard AWS chain (AWS_REGION alone names the region); static keys only from "
    "SAASBRIDGE_AWS_ACCESS_KEY_ID/SAASBRIDGE_AWS_SECRET_ACCESS_KEY."
)


def add_aws_options(p: argparse.ArgumentParser) -> None:
    """Add the AWS credentials group to `p`."""
    aws = p.add_argument_group(GROUP_TITLE, GROUP_DESCRIPTION)
    aws.add_argument("--region", help="AWS region (default: SAASBRIDGE_AWS_REGION, AWS_REGION, AWS_DEFAULT_REGION)")
    aws.add_argument("--profile", dest="aws_profile", metavar="NAME",
                     help="a profile of the shared AWS config files (default: AWS_PROFILE)")
    aws.add_argument("--role-arn", help="assume this IAM role, e.g. in the customer's account (default: "
                     "SAASBRIDGE_AWS_ROLE_ARN, AWS_ROLE_ARN)")
    aws.add_argument("--external-id", help="the external id the role's trust policy asks for (with --role-arn)")
    aws.add_argument("--web-identity-token-file", metavar="FILE",
                     help="assume --role-arn with this web identity token file (EKS service accounts)")
    aws.add_argument("--group", help="the SaaS user group: assume the role mapped to it (see --group-roles)")
    aws.add_argument("--group-roles", metavar="JSON_OR_PAIRS",
                     help='SaaS group → role mapping, {"group": "role ARN"} or group=arn,… '
                     "(default: SAASBRIDGE_AWS_GROUP_ROLES)")  # fmt: skip


def aws_access(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Any:
    """The `AwsAccess` the options (over the environment) describe; a wrong combination or role ARN is
    a one-line ConfigError."""
    from saasbridge.errors import ConfigError
    from saasbridge.sagemaker.credentials import AwsAccess, check_role_arn, parse_group_roles

    if args.external_id and not (args.role_arn or args.group):
        raise ConfigError("--external-id goes with --role-arn (the role whose trust policy asks for it)")
    if args.web_identity_token_file and not os.path.isfile(args.web_identity_token_file):
        raise ConfigError(f"--web-identity-token-file {args.web_identity_token_file}: no such file")
    if args.role_arn:
        check_role_arn(args.role_arn)
    access = AwsAccess.from_env(
        os.environ if env is None else env, region=args.region, profile=args.aws_profile, role_arn=args.role_arn,
        external_id=args.external_id, web_identity_token_file=args.web_identity_token_file, group=args.group,
        group_roles=parse_group_roles(args.group_roles) if args.group_roles else None,
    )  # fmt: skip
    access.effective_role()  # an unmapped group fails here, before any AWS call
    return access


def aws_session_from_args(args: argparse.Namespace) -> Any:
    """A boto3 session for the options (saasbridge.sagemaker.credentials.aws_session)."""
    from saasbridge.sagemaker.credentials import aws_session

    return aws_session(aws_access(args))
