"""The local flow runner: plays Amazon AppFlow's part against the AppFlow connector.

`run_extract(options)` sends the events AppFlow sends for a flow run (connector → S3) and writes
the records as AppFlow lays out its S3 output; `run_writeback(options)` sends rows to a writable
entity through WriteData (S3 → connector). The connector is reached through a `Transport`: in
process, the local Lambda invoke endpoint, or a deployed Lambda. See docs in `extract.py` for the
event sequence and `incremental.py` for the incremental-pull rules.
"""

from saasbridge.local.flow_runner.extract import ExtractOptions, ExtractResult, run_extract
from saasbridge.local.flow_runner.transport import (
    EndpointTransport,
    InProcessTransport,
    LambdaTransport,
    Transport,
)
from saasbridge.local.flow_runner.writeback import WritebackOptions, WritebackResult, run_writeback

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
