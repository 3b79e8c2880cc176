"""`saasbridge sagemaker …`: the SageMaker side. This module only creates the group; each module in
SUBCOMMAND_MODULES adds its sub-commands with `register(group_subparsers)`."""

from __future__ import annotations

import argparse
from typing import Any

from saasbridge.cli import register_modules

SUBCOMMAND_MODULES = ("sagemaker_modellog", "sagemaker_gate", "sagemaker_hosting")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sagemaker", help="the SageMaker side: the model log (import, sync, deploy, approve, status) and hosting",
        description="Work with SageMaker for the SaaS: keep its model log current and deploy behind an approval.",
    )
    group = p.add_subparsers(dest="sagemaker_command", metavar="SUBCOMMAND", parser_class=type(p))
    register_modules(group, SUBCOMMAND_MODULES)
    p.set_defaults(func=lambda _args: _help(p))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
