"""The local flow runner: plays Amazon AppFlow's part against the AppFlow connector.

`run_extract(options)` reads an entity's records through the AppFlow driver (connector → S3) and
writes them as AppFlow lays out its S3 output; `run_writeback(options)` sends rows to a writable
entity through WriteData (S3 → connector). The events, retries, paging and batching are the
driver's (`saasbridge.drivers.appflow`); the connector is reached through an invoker
(`saasbridge.drivers.lambda_invoker`). See `incremental.py` for the incremental-pull rules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from saasbridge.local.flow_runner.extract import ExtractOptions, ExtractResult, run_extract
    from saasbridge.local.flow_runner.writeback import WritebackOptions, WritebackResult, run_writeback

# Loaded on first use: importing the package (e.g. for its docs or one option class)
# should not pay for pyarrow.
_EXPORTS = {
    "ExtractOptions": "extract",
    "ExtractResult": "extract",
    "WritebackOptions": "writeback",
    "WritebackResult": "writeback",
    "run_extract": "extract",
    "run_writeback": "writeback",
}
__all__ = ["ExtractOptions", "ExtractResult", "WritebackOptions", "WritebackResult", "run_extract", "run_writeback"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
