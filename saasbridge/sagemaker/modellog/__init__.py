"""The SageMaker model log: import a model and what relates to it, sync the account, and deploy
behind checks and an approval, all through the catalog's write operations (see README, "Model log").

    session = aws_session(AwsAccess(region="eu-west-1"))
    log = ModelLog.open(session, runtime.client())
    log.import_model("churn-model").summary()
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from saasbridge.client.client import SaasClient
from saasbridge.sagemaker.aws import AwsService
from saasbridge.sagemaker.modellog import importer
from saasbridge.sagemaker.modellog.importer import ModelLogResult, ModelNotFound, parse_since
from saasbridge.sagemaker.modellog.inventory import Inventory, Progress
from saasbridge.sagemaker.modellog.writer import ModelLogWriter

__all__ = ["ModelLog", "ModelLogResult", "ModelNotFound", "parse_since"]


@dataclass
class ModelLog:
    """One run against one account: SageMaker read once, the SaaS compared before every write."""

    session: Any  # boto3.Session
    inventory: Inventory
    writer: ModelLogWriter

    @classmethod
    def open(cls, session: Any, client: SaasClient, *, since: datetime | None = None,
             progress: Progress | None = None) -> ModelLog:
        writer = ModelLogWriter(client)
        sm, s3 = AwsService(session.client("sagemaker")), AwsService(session.client("s3"))
        return cls(session, Inventory(sm, since=since, known=writer.current, progress=progress, s3=s3), writer)

    def refreshed(self) -> ModelLog:
        """The same log with SageMaker read afresh (after this run changed something there)."""
        inv = self.inventory
        return ModelLog(self.session, Inventory(inv.sm, since=inv.since, known=inv.known, progress=inv.progress,
                                                s3=inv.s3), self.writer)

    def import_model(self, name: str) -> ModelLogResult:
        return importer.import_model(self.inventory, self.writer, name)

    def sync(self, tags: Mapping[str, str] | None = None) -> ModelLogResult:
        return importer.sync(self.inventory, self.writer, tags=tags, scope=self.arn_scope())

    def arn_scope(self) -> str:
        """The ARN prefix of this account and region's SageMaker assets: what a sync may mark deleted."""
        caller = AwsService(self.session.client("sts", region_name=self.inventory.sm.region)).call("get_caller_identity")
        partition = caller["Arn"].split(":")[1]
        return f"arn:{partition}:sagemaker:{self.inventory.sm.region}:{caller['Account']}:"
