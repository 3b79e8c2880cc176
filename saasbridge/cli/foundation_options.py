"""`saasbridge predict`'s options for foundation models (JumpStart / Hugging Face text generation
and embedding): what text each row sends and how the model is asked."""

from __future__ import annotations

import argparse
from typing import Any

from saasbridge.errors import ConfigError


def add_foundation_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "foundation models", "a text per row to a JumpStart / Hugging Face text-generation or embedding endpoint; "
        "the output goes to the target's text or embedding field"
    )  # fmt: skip
    group.add_argument("--task", choices=("text-generation", "embedding"),
                       help="the endpoint serves this task (instead of --features: --prompt or --text-column)")
    group.add_argument("--prompt", metavar="TEMPLATE",
                       help="the text per row, with {column} placeholders, e.g. \"Summarize: {subject} for "
                       "{account_id}\" (a missing value is empty; a row with every column missing fails)")
    group.add_argument("--text-column", metavar="COLUMN", help="instead of --prompt: send this column's text")
    group.add_argument("--parameters", metavar="NAME=VALUE", nargs="+", action="extend", default=[],
                       help="model parameters, e.g. max_new_tokens=64 temperature=0.2 stop='[\"\\n\"]' "
                       "(values read as JSON when they are)")
    group.add_argument("--stream", action="store_true",
                       help="read each generation as it is produced (InvokeEndpointWithResponseStream)")


def check_foundation_options(args: argparse.Namespace) -> None:
    """The foundation options fit together and with the rest (one line per mistake)."""
    given = [f"--{n.replace('_', '-')}" for n in ("prompt", "text_column", "stream") if getattr(args, n)]
    if args.parameters:
        given.append("--parameters")
    if not args.task:
        if given:
            raise ConfigError(f"{', '.join(given)}: go with --task text-generation or --task embedding")
        return
    if args.features:
        raise ConfigError(f"--task {args.task} sends --prompt or --text-column, not --features; drop --features")
    if not args.endpoint or args.mode != "realtime" or args.scoring_url:
        raise ConfigError(f"--task {args.task} calls a real-time --endpoint; drop --model/--mode/--scoring-url")


def text_input(args: argparse.Namespace) -> Any:
    """The TextInput of --task, or None."""
    from saasbridge.sagemaker.inference.foundation import TextInput

    return TextInput(args.task, args.prompt, args.text_column) if args.task else None


def foundation_scorer(args: argparse.Namespace, session: Any, info: Any) -> Any:
    from saasbridge.sagemaker.inference.foundation import FoundationScorer, parse_parameters

    return FoundationScorer(session, info, args.task, parameters=parse_parameters(args.parameters),
                            stream=args.stream, concurrency=args.concurrency)  # fmt: skip
