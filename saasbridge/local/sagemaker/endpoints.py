"""Endpoint creation as SageMaker runs it: CreateEndpoint / UpdateEndpoint start the model server in
the background; DescribeEndpoint and ListEndpoints say Creating (or Updating) until it answers,
then InService, or Failed with the reason (an unreadable archive, a model_fn that raises)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from saasbridge.local.sagemaker.hosts import EndpointNotFound, ModelHosts, ModelStartError, resolve_endpoint


@dataclass
class EndpointState:
    status: str
    failure_reason: str | None = None


class EndpointStates:
    def __init__(self, hosts: ModelHosts):
        self.hosts = hosts
        self._states: dict[str, EndpointState] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self, name: str, clients: Any, *, updating: bool = False) -> None:
        state = EndpointState("Updating" if updating else "Creating")
        with self._lock:
            self._states[name] = state
        thread = threading.Thread(target=self._bring_up, args=(name, clients, state), name=f"endpoint-{name}", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _bring_up(self, name: str, clients: Any, state: EndpointState) -> None:
        try:
            target = resolve_endpoint(clients.sagemaker, name)
            self.hosts.url_for(target.model, clients.s3)
            state.status = "InService"
        except (EndpointNotFound, ModelStartError) as exc:
            state.status, state.failure_reason = "Failed", str(exc)[:1024] or f"endpoint {name} is gone"
        except Exception as exc:  # any other error fails the endpoint with a reason, as SageMaker reports it
            state.status, state.failure_reason = "Failed", f"{type(exc).__name__}: {exc}"[:1024]

    def forget(self, name: str) -> None:
        with self._lock:
            self._states.pop(name, None)

    def status(self, name: str) -> EndpointState | None:
        with self._lock:
            return self._states.get(name)

    def patch(self, response: dict[str, Any]) -> dict[str, Any]:
        """A DescribeEndpoint or ListEndpoints answer with the endpoints' real states."""
        for endpoint in [response, *response.get("Endpoints", [])]:
            state = self.status(endpoint.get("EndpointName", ""))
            if state is None:
                continue
            endpoint["EndpointStatus"] = state.status
            if state.failure_reason:
                endpoint["FailureReason"] = state.failure_reason
            else:
                endpoint.pop("FailureReason", None)
        return response

    def wait(self, timeout: float | None = None) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
