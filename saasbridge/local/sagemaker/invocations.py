"""The SageMaker runtime data plane: InvokeEndpoint and InvokeEndpointAsync against model servers,
answering with the status codes, headers and error shapes the real service uses, so boto3's
`sagemaker-runtime` client raises the same exceptions."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3

from saasbridge.local.sagemaker import eventstream
from saasbridge.local.sagemaker.endpoints import EndpointStates
from saasbridge.local.sagemaker.hosts import (
    EndpointNotFound,
    EndpointTarget,
    ModelHosts,
    ModelStartError,
    resolve_endpoint,
)
from saasbridge.s3url import parse_s3_url

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's request and response limit
SERVERLESS_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024  # a serverless endpoint's request limit
STREAM_PART_BYTES = 100  # small, so that clients meet events split across parts
MODEL_TIMEOUT_SECONDS = 60.0  # the container's response timeout
ACCOUNT_ID = "123456789012"  # moto's default account


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def error_reply(status: int, code: str, message: str, **extra: Any) -> Reply:
    """A rest-json error as SageMaker sends it: the code in `x-amzn-ErrorType`, the fields in the body."""
    body = json.dumps({"Message": message, **extra}).encode()
    return Reply(status, body, {"Content-Type": "application/json", "x-amzn-ErrorType": code})


JSON_1_1 = {"Content-Type": "application/x-amz-json-1.1"}  # the control plane's protocol


def control_plane_answer(body: dict[str, Any] | None = None) -> Reply:
    return Reply(200, json.dumps(body or {}).encode(), JSON_1_1)


def stop_job(state: Any, kind: str, name: str, on_stop: Callable[[Any], None] | None = None) -> Reply | None:
    """A Stop* call for a job run here (`state`: its state, None when it is not one of ours, so the call
    is forwarded): `Stopping` until the job notices, or ValidationException when it is not running
    (the control plane names the error in `__type`)."""
    if state is None:
        return None
    if state.status != "InProgress":
        message = f"{kind} job {name} is {state.status}; only an InProgress job can be stopped"
        return Reply(400, json.dumps({"__type": "ValidationException", "message": message}).encode(), JSON_1_1)
    state.stop_requested, state.status = True, "Stopping"
    if on_stop is not None:
        on_stop(state)
    return control_plane_answer()


def access_denied(action: str) -> Reply:
    message = f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/caller is not authorized to perform: sagemaker:{action}"
    return Reply(400, json.dumps({"__type": "AccessDeniedException", "message": message}).encode(), JSON_1_1)


def validation_error(message: str) -> Reply:
    return error_reply(400, "ValidationError", message)


def endpoint_not_found(name: str) -> Reply:
    return validation_error(f"Endpoint {name} of account {ACCOUNT_ID} not found.")


def model_error(endpoint: str, status: int, text: str) -> Reply:
    """What the runtime answers when the container does not answer 2xx (HTTP 424 ModelError)."""
    kind = "client" if 400 <= status < 500 else "server"
    log_group = f"/aws/sagemaker/Endpoints/{endpoint}"
    message = (f"Received {kind} error ({status}) from primary with message "
               f"\"{text}\". See https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
               f"#logEventViewer:group={log_group} in account {ACCOUNT_ID} for more information.")  # fmt: skip
    return error_reply(424, "ModelError", message, OriginalStatusCode=status, OriginalMessage=text,
                       LogStreamArn=f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:{log_group}",
                       ErrorCode="CLIENT_ERROR_FROM_MODEL" if kind == "client" else "SERVER_ERROR_FROM_MODEL")  # fmt: skip


class Faults:
    """Injected failures for tests: the next N runtime calls (for one endpoint, or any) answer
    ThrottlingException, or a ModelError as if the container had failed; `access_denied`: the next N
    control-plane calls of one action (e.g. CreateTrainingJob, or any) answer AccessDeniedException."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], int] = {}

    def add(self, kind: str, count: int, endpoint: str = "*") -> None:
        if kind not in ("throttle", "model_error", "access_denied"):
            raise ValueError(f"unknown fault {kind!r}: use throttle, model_error or access_denied")
        with self._lock:
            self._pending[(kind, endpoint)] = self._pending.get((kind, endpoint), 0) + int(count)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def take(self, kind: str, endpoint: str) -> bool:
        """Consume one pending fault of `kind` for `endpoint` (or for any endpoint)."""
        with self._lock:
            for key in ((kind, endpoint), (kind, "*")):
                if self._pending.get(key, 0) > 0:
                    self._pending[key] -= 1
                    return True
        return False

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {f"{k}:{e}": n for (k, e), n in self._pending.items() if n}


@dataclass
class Clients:
    """boto3 clients for the control plane and S3 of the caller's account and region."""

    sagemaker: Any
    s3: Any
    logs: Any = None  # CloudWatch Logs, where the jobs run here write their logs


class Concurrency:
    """Requests in flight per serverless endpoint, against its MaxConcurrency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: dict[str, int] = {}

    def take(self, endpoint: str, limit: int) -> bool:
        with self._lock:
            if self._busy.get(endpoint, 0) >= limit:
                return False
            self._busy[endpoint] = self._busy.get(endpoint, 0) + 1
            return True

    def release(self, endpoint: str) -> None:
        with self._lock:
            self._busy[endpoint] -= 1


class Runtime:
    def __init__(self, hosts: ModelHosts, faults: Faults, endpoints: EndpointStates):
        self.hosts = hosts
        self.faults = faults
        self.endpoints = endpoints
        self.serverless = Concurrency()
        self.http = urllib3.PoolManager(maxsize=16)

    # ------------------------------------------------------------ the container call

    def call_model(self, model_url: str, body: bytes, content_type: str, accept: str,
                   custom_attributes: str | None = None) -> tuple[int, bytes, str]:  # fmt: skip
        headers = {"Content-Type": content_type or "application/json", "Accept": accept or "*/*"}
        if custom_attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
        try:
            response = self.http.request("POST", model_url + "/invocations", body=body, headers=headers,
                                         timeout=MODEL_TIMEOUT_SECONDS, retries=False)  # fmt: skip
        except urllib3.exceptions.HTTPError as exc:
            return 0, f"Your invocation timed out or failed while waiting for a response from the container: {exc}".encode(), "text/plain"
        return response.status, response.data, response.headers.get("Content-Type", "application/octet-stream")

    def _target(self, clients: Clients, endpoint: str, variant: str | None) -> EndpointTarget | Reply:
        state = self.endpoints.get(endpoint)
        if state is not None and state.status in ("Creating", "Failed"):
            return validation_error(f"Endpoint {endpoint} of account {ACCOUNT_ID} is {state.status}, not InService"
                                    + (f": {state.failure_reason}" if state.failure_reason else ""))  # fmt: skip
        try:
            return resolve_endpoint(clients.sagemaker, endpoint, variant)
        except EndpointNotFound:
            return endpoint_not_found(endpoint)
        except ModelStartError as exc:
            return validation_error(str(exc))

    def _invoke_target(self, clients: Clients, target: EndpointTarget, body: bytes, content_type: str,
                       accept: str, custom_attributes: str | None = None) -> Reply:  # fmt: skip
        if self.faults.take("model_error", target.endpoint_name):
            return model_error(target.endpoint_name, 500, "injected model error")
        try:
            url = self.hosts.url_for(target.model, clients.s3)
        except ModelStartError as exc:
            return model_error(target.endpoint_name, 500, str(exc))
        status, out, out_type = self.call_model(url, body, content_type, accept, custom_attributes)
        if not 200 <= status < 300:
            return model_error(target.endpoint_name, status, out.decode("utf-8", "replace"))
        return Reply(200, out, {"Content-Type": out_type, "x-Amzn-Invoked-Production-Variant": target.variant_name})

    # ------------------------------------------------------------ InvokeEndpoint

    def invoke(self, clients: Clients, endpoint: str, body: bytes, headers: Callable[[str], str | None]) -> Reply:
        if self.faults.take("throttle", endpoint):
            return error_reply(400, "ThrottlingException", "Rate exceeded")
        if len(body) > MAX_PAYLOAD_BYTES:
            return validation_error(f"Request payload of {len(body)} bytes exceeds the {MAX_PAYLOAD_BYTES} bytes "
                                    "InvokeEndpoint accepts; send smaller batches or use InvokeEndpointAsync")  # fmt: skip
        target = self._target(clients, endpoint, headers("X-Amzn-SageMaker-Target-Variant"))
        if isinstance(target, Reply):
            return target
        call = lambda: self._invoke_target(clients, target, body, headers("Content-Type") or "application/json",  # noqa: E731
                                           headers("Accept") or "*/*", headers("X-Amzn-SageMaker-Custom-Attributes"))  # fmt: skip
        return self._serverless(target, body, call) if target.serverless else call()

    def _serverless(self, target: EndpointTarget, body: bytes, call: Callable[[], Reply]) -> Reply:
        """A serverless endpoint's limits: 4 MB requests, and MaxConcurrency requests at a time (more
        are throttled, which clients retry)."""
        if len(body) > SERVERLESS_MAX_PAYLOAD_BYTES:
            return validation_error(f"Request payload of {len(body)} bytes exceeds the {SERVERLESS_MAX_PAYLOAD_BYTES} "
                                    "bytes a serverless endpoint accepts; send smaller batches")  # fmt: skip
        limit = int(target.serverless.get("MaxConcurrency") or 1)
        if not self.serverless.take(target.endpoint_name, limit):
            return error_reply(400, "ThrottlingException", f"Rate exceeded: serverless endpoint "
                               f"{target.endpoint_name} is at its MaxConcurrency of {limit}")  # fmt: skip
        try:
            return call()
        finally:
            self.serverless.release(target.endpoint_name)

    # ------------------------------------------------------------ InvokeEndpointWithResponseStream

    def invoke_stream(self, clients: Clients, endpoint: str, body: bytes,
                      headers: Callable[[str], str | None]) -> Reply:  # fmt: skip
        """The container's answer relayed as PayloadPart events of at most STREAM_PART_BYTES (a part
        need not end on an event or line boundary, as with SageMaker); a container error before any
        byte is a ModelError, as for InvokeEndpoint. The answer is relayed once the container has
        finished (the stand-in's container answers whole), not while it is written."""
        reply = self.invoke(clients, endpoint, body, lambda h: headers(
            "X-Amzn-SageMaker-Accept" if h == "Accept" else h))  # fmt: skip
        if reply.status != 200:
            return reply
        parts = [eventstream.event("PayloadPart", reply.body[i : i + STREAM_PART_BYTES])
                 for i in range(0, len(reply.body), STREAM_PART_BYTES)]  # fmt: skip
        out_headers = {"Content-Type": eventstream.CONTENT_TYPE,
                       "X-Amzn-SageMaker-Content-Type": reply.headers.get("Content-Type", "application/octet-stream"),
                       "x-Amzn-Invoked-Production-Variant": reply.headers.get("x-Amzn-Invoked-Production-Variant", "")}  # fmt: skip
        return Reply(200, b"".join(parts), out_headers)

    # ------------------------------------------------------------ InvokeEndpointAsync

    def invoke_async(self, clients: Clients, endpoint: str, headers: Callable[[str], str | None]) -> Reply:
        if self.faults.take("throttle", endpoint):
            return error_reply(400, "ThrottlingException", "Rate exceeded")
        input_location = headers("X-Amzn-SageMaker-InputLocation")
        if not input_location:
            return validation_error("InputLocation is required for InvokeEndpointAsync")
        target = self._target(clients, endpoint, None)
        if isinstance(target, Reply):
            return target
        output_config = target.async_config.get("OutputConfig") or {}
        output_path = output_config.get("S3OutputPath")
        if not output_path:
            return validation_error(f"Endpoint {endpoint} is not an asynchronous endpoint (its configuration has "
                                    "no AsyncInferenceConfig); call InvokeEndpoint instead")  # fmt: skip
        inference_id = headers("X-Amzn-SageMaker-Inference-Id") or str(uuid.uuid4())
        object_id = str(uuid.uuid4())
        extension = (headers("X-Amzn-SageMaker-S3OutputPathExtension") or "").strip("/")
        output_base = output_path.rstrip("/") + (f"/{extension}" if extension else "")
        failure_base = (output_config.get("S3FailurePath") or output_path).rstrip("/") + (f"/{extension}" if extension else "")
        filename = headers("X-Amzn-SageMaker-Filename")
        output_location = f"{output_base}/{filename or object_id + '.out'}"
        failure_location = f"{failure_base}/{object_id}-error.out"
        job = threading.Thread(
            target=self._run_async,
            args=(clients, target, input_location, output_location, failure_location,
                  headers("X-Amzn-SageMaker-Content-Type"),
                  headers("X-Amzn-SageMaker-Accept") or "*/*", headers("X-Amzn-SageMaker-Custom-Attributes")),
            name=f"async-{endpoint}", daemon=True,
        )  # fmt: skip
        job.start()
        return Reply(202, json.dumps({"InferenceId": inference_id}).encode(),
                     {"Content-Type": "application/json", "X-Amzn-SageMaker-OutputLocation": output_location,
                      "X-Amzn-SageMaker-FailureLocation": failure_location})  # fmt: skip

    def _run_async(self, clients: Clients, target: EndpointTarget, input_location: str, output_location: str,
                   failure_location: str, content_type: str | None, accept: str, custom_attributes: str | None) -> None:  # fmt: skip
        try:
            source = parse_s3_url(input_location, "InputLocation", need_key=True)
            found = clients.s3.get_object(Bucket=source.bucket, Key=source.key)
            body = found["Body"].read()
        except Exception as exc:  # a missing input object is the request's failure, written where SageMaker writes it
            reply = error_reply(400, "ValidationError", f"cannot read InputLocation {input_location}: {exc}")
        else:
            # Without a ContentType in the request, the input object's own: the SDK's AsyncPredictor
            # relies on it (it stores the input with its serializer's type and sends none).
            content_type = content_type or found.get("ContentType") or "application/json"
            reply = self._invoke_target(clients, target, body, content_type, accept, custom_attributes)
        if reply.status == 200:
            location, payload, kind = output_location, reply.body, reply.headers.get("Content-Type", "application/octet-stream")
        else:
            location, payload, kind = failure_location, reply.body, "application/json"
        target = parse_s3_url(location, "the output location", need_key=True)
        clients.s3.put_object(Bucket=target.bucket, Key=target.key, Body=payload, ContentType=kind)
