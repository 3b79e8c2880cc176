"""The `saasbridge` command. Each sub-command lives in its own module with a `register(subparsers)`
function; this module only dispatches and turns errors into one clear line and a non-zero exit."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterable
from typing import Any

from saasbridge import __version__
from saasbridge.errors import SaasBridgeError

# Sub-command modules, in the order `--help` lists them.
COMMAND_MODULES = ("demo", "api", "catalog", "sql", "extract", "writeback", "lambda_serve", "invoke", "package",
                   "budget", "sagemaker", "train", "predict", "models")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        self.exit(2, f"saasbridge: error: {message} (see `saasbridge --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="saasbridge", description="Put a SaaS REST API in front of Athena (SQL) and "
                     "AppFlow (extracts to S3), from one catalog file.")
    parser.add_argument("--version", action="version", version=f"saasbridge {__version__}")
    register_modules(parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser),
                     COMMAND_MODULES)
    return parser


def register_modules(subparsers: Any, names: Iterable[str]) -> None:
    """Let each `saasbridge.cli.<name>` module add its sub-commands to `subparsers`."""
    for name in names:
        importlib.import_module(f"saasbridge.cli.{name}").register(subparsers)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SaasBridgeError as exc:
        print(f"saasbridge: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("saasbridge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if type(exc).__module__.startswith(("botocore", "boto3")):  # AWS set-up, not a bug of ours
            print(f"saasbridge: error: AWS: {exc}; check AWS credentials and region (or AWS_ENDPOINT_URL "
                  "for a local stand-in)", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
