"""Endpoint creation as SageMaker runs it: CreateEndpoint / UpdateEndpoint (which moto has not: see
`update`) start the model server in the background; DescribeEndpoint and ListEndpoints say Creating
(or Updating) until it answers, then InService, or Failed with the reason (an unreadable archive, a
model_fn that raises). A serverless endpoint is InService at once: its model server starts on the
first request (the cold start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saasbridge.local.sagemaker.hosts import EndpointNotFound, ModelHosts, ModelStartError, resolve_endpoint
from saasbridge.local.sagemaker.tracking import Tracked


@dataclass
class EndpointState:
    status: str
    failure_reason: str | None = None


class EndpointStates(Tracked[EndpointState]):
    def __init__(self, hosts: ModelHosts):
        super().__init__()
        self.hosts = hosts

    def start(self, name: str, clients: Any, *, updating: bool = False) -> None:
        state = EndpointState("Updating" if updating else "Creating")
        self.launch(name, state, lambda: self._bring_up(name, clients, state))

    def update(self, request: dict[str, Any], clients: Any) -> str:
        """UpdateEndpoint, which moto lacks: the endpoint is re-created in moto on its new
        configuration under the same name (so the same ARN; tags kept, the creation time is new)
        and its model server brought up as an update; returns the ARN. Raises botocore's
        ClientError as moto answers (no such endpoint or configuration)."""
        name, config = request["EndpointName"], request["EndpointConfigName"]
        sm = clients.sagemaker
        arn = sm.describe_endpoint(EndpointName=name)["EndpointArn"]
        sm.describe_endpoint_config(EndpointConfigName=config)
        tags = sm.list_tags(ResourceArn=arn).get("Tags") or []
        sm.delete_endpoint(EndpointName=name)
        arn = sm.create_endpoint(EndpointName=name, EndpointConfigName=config, **({"Tags": tags} if tags else {}))["EndpointArn"]
        self.start(name, clients, updating=True)
        return arn

    def _bring_up(self, name: str, clients: Any, state: EndpointState) -> None:
        try:
            target = resolve_endpoint(clients.sagemaker, name)
            if not target.serverless:
                self.hosts.url_for(target.model, clients.s3)
            state.status = "InService"
        except (EndpointNotFound, ModelStartError) as exc:
            state.status, state.failure_reason = "Failed", str(exc)[:1024] or f"endpoint {name} is gone"
        except Exception as exc:  # any other error fails the endpoint with a reason, as SageMaker reports it
            state.status, state.failure_reason = "Failed", f"{type(exc).__name__}: {exc}"[:1024]

    def describe(self, response: dict[str, Any]) -> dict[str, Any]:
        """A DescribeEndpoint or ListEndpoints answer with the endpoints' real states."""
        return self.patch(response, "EndpointName", "Endpoints",
                          lambda s: {"EndpointStatus": s.status, "FailureReason": s.failure_reason})  # fmt: skip
