"""Both connectors deployed over a SaaS stub: the Athena handler (events in-process, spill to the
moto server) and the AppFlow handler (QueryData with a Secrets Manager secret)."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from saasbridge.catalog import load_catalog
from saasbridge.local.httpstub import StubServer
from tests.athena_driver import scan
from tests.helpers import appflow_records, put_secret, reset_connectors

BUCKET = "saas-stub-spill"
STUBS = Path(__file__).parent


@dataclass
class Deployed:
    api: StubServer
    arn: str
    schema: str

    def athena(self, table: str, *, summary: dict | None = None, columns: list[str] | None = None,
               limit: int | None = None, order_by: list[tuple[str, str]] = ()) -> list[dict]:
        return scan(table, summary=summary, columns=columns, limit=limit, order_by=order_by,
                    schema_name=self.schema).to_pylist()

    def appflow(self, entity: str, **kwargs: Any) -> list[dict]:
        """Every record of a QueryData listing, following nextToken as AppFlow does."""
        return appflow_records(self.api.url, self.arn, entity, **kwargs)

    def taken(self) -> list[Any]:
        """The API requests since the last call (and forget them)."""
        taken, self.api.requests[:] = list(self.api.requests), []
        return taken


def deploy(stack: Any, monkeypatch: Any, tmp_path: Path, catalog: str, handler: Any, secret: dict,
           env: dict[str, str] | None = None) -> Deployed:
    """Serve `catalog` (a file under tests/saas_stubs/) over `handler` through both connectors."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    api = stack.enter_context(StubServer(handler))
    path = STUBS / catalog
    variables = {"SAASBRIDGE_CATALOG": str(path), "SAASBRIDGE_API_URL": api.url, "spill_bucket": BUCKET,
                 "SAASBRIDGE_ATHENA_MAX_SPLITS": "1", **(env or {})}
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    for key, var in (("apiKey", "SAASBRIDGE_API_KEY"), ("accessToken", "SAASBRIDGE_ACCESS_TOKEN")):
        if key in secret:
            monkeypatch.setenv(var, secret[key])
    load_catalog(path, env=dict(os.environ))  # valid
    arn = put_secret(f"{path.stem}-{tmp_path.name}", secret)
    reset_connectors()
    return Deployed(api, arn, load_catalog(path, env=dict(os.environ)).name)


def deployment(catalog: str, secret: dict, **env: str) -> Any:
    """A pytest fixture: `setup(api, **env)` serves `catalog` over the stub `api` through both
    connectors, for the test's duration."""

    @pytest.fixture
    def fixture(aws_env, monkeypatch, tmp_path):
        stack = ExitStack()
        yield lambda api, **more: deploy(stack, monkeypatch, tmp_path, catalog, api, secret, env={**env, **more})
        stack.close()
        reset_connectors()

    return fixture



