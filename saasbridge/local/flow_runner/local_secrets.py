"""A throwaway Secrets Manager for flow runs in this process.

The AppFlow connector reads credentials only from the secret named in its event, as in AWS. A
local run (in-process connector, local output, no `--secret-arn`, no `AWS_ENDPOINT_URL`) gets a
moto server for the length of the run, so `saasbridge extract` works out of the box and never
creates a secret in a real AWS account behind the user's back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from saasbridge.local.flow_runner.transport import InProcessTransport


def needs_local_secrets(transport: object, secret_arn: str | None, uris: list[str]) -> bool:
    return (
        transport is None or isinstance(transport, InProcessTransport)
    ) and not secret_arn and not os.environ.get("AWS_ENDPOINT_URL") and not any(
        u.startswith("s3://") for u in uris
    )


@contextmanager
def local_secrets() -> Iterator[None]:
    """Start a moto server and point boto3 at it until the block ends."""
    from saasbridge.local.processes import start_moto_server

    with start_moto_server() as moto:
        env = {"AWS_ENDPOINT_URL": moto.url, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
               "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
