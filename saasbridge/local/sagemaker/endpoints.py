"""Endpoint creation as SageMaker runs it: CreateEndpoint / UpdateEndpoint start the model server in
the background; DescribeEndpoint and ListEndpoints say Creating (or Updating) until it answers,
then InService, or Failed with the reason (an unreadable archive, a model_fn that raises). A
serverless endpoint is InService at once: its model server starts on the first request (the cold
start)."""

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
