"""A throwaway AWS stand-in (the moto server) for commands that run a connector in this process.

The connectors use AWS as they do in a deployment: the AppFlow connector reads credentials only
from the Secrets Manager secret named in its event, and the Athena connector spills large results
to S3. A local run with nothing configured (no `AWS_ENDPOINT_URL`, no secret or spill bucket
given) gets a moto server for the length of the command, so `saasbridge extract` and
`saasbridge sql` work out of the box, and nothing is created in a real AWS account behind the
user's back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from saasbridge.local.env import temporary_env
from saasbridge.s3url import is_s3_url

LOCAL_SPILL_BUCKET = "saasbridge-local-spill"


def aws_configured_locally() -> bool:
    return bool(os.environ.get("AWS_ENDPOINT_URL"))


def needs_local_secrets(invoker: object, secret_arn: str | None, uris: list[str]) -> bool:
    """A flow run with the connector in this process, local files only, and no secret given."""
    from saasbridge.drivers.lambda_invoker import InProcessInvoker

    in_process = invoker is None or isinstance(invoker, InProcessInvoker)
    return in_process and not secret_arn and not aws_configured_locally() and not any(
        is_s3_url(u) for u in uris
    )


def aws_for_flow(invoker: object, secret_arn: str | None, uris: list[str]) -> AbstractContextManager[None]:
    """`local_aws()` when the flow run needs it (see `needs_local_secrets`), else a no-op block."""
    return local_aws() if needs_local_secrets(invoker, secret_arn, uris) else nullcontext()


@contextmanager
def local_aws(*, spill_bucket: bool = False) -> Iterator[None]:
    """Start a moto server and point boto3 (and, with `spill_bucket`, the Athena connector's
    spill settings) at it until the block ends."""
    from saasbridge.local.processes import start_moto_server

    with start_moto_server() as moto:
        env = {"AWS_ENDPOINT_URL": moto.url, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
               "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
        if spill_bucket:
            env["spill_bucket"] = LOCAL_SPILL_BUCKET
        with temporary_env(**env):
            if spill_bucket:
                import boto3

                boto3.client("s3").create_bucket(Bucket=LOCAL_SPILL_BUCKET)
            yield
