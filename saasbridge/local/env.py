"""Environment variables set for the length of a block: the in-process connectors and boto3 read
their settings from the environment, so a local run points them at local servers this way."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def temporary_env(**values: str | None) -> Iterator[None]:
    """Set each variable (None = unset it) until the block ends, then restore what was there."""
    saved = {key: os.environ.get(key) for key in values}
    _apply(values)
    try:
        yield
    finally:
        _apply(saved)


def _apply(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
