"""The local flow runner: plays Amazon AppFlow's part against the AppFlow connector.

`run_extract(options)` sends the events AppFlow sends for a flow run (connector → S3) and writes
the records as AppFlow lays out its S3 output; `run_writeback(options)` sends rows to a writable
entity through WriteData (S3 → connector). The connector is reached through a `Transport`: in
process, the local Lambda invoke endpoint, or a deployed Lambda. See docs in `extract.py` for the
event sequence and `incremental.py` for the incremental-pull rules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from saasbridge.local.flow_runner.extract import ExtractOptions, ExtractResult, run_extract
    from saasbridge.local.flow_runner.transport import (
        EndpointTransport,
        InProcessTransport,
        LambdaTransport,
        Transport,
    )
    from saasbridge.local.flow_runner.writeback import WritebackOptions, WritebackResult, run_writeback

# Loaded on first use: the CLI imports `cli_options` from this package to build its parser, and
# `saasbridge --help` should not pay for pyarrow.
_EXPORTS = {
    "EndpointTransport": "transport",
    "ExtractOptions": "extract",
    "ExtractResult": "extract",
    "InProcessTransport": "transport",
    "LambdaTransport": "transport",
    "Transport": "transport",
    "WritebackOptions": "writeback",
    "WritebackResult": "writeback",
    "run_extract": "extract",
    "run_writeback": "writeback",
}
__all__ = [
    "EndpointTransport",
    "ExtractOptions",
    "ExtractResult",
    "InProcessTransport",
    "LambdaTransport",
    "Transport",
    "WritebackOptions",
    "WritebackResult",
    "run_extract",
    "run_writeback",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
