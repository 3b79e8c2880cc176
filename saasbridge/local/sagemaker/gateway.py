"""One loopback endpoint for everything boto3 sends to `AWS_ENDPOINT_URL`: the SageMaker runtime
calls are answered here, everything else (the SageMaker control plane, S3, Secrets Manager, …) is
forwarded unchanged to the moto server.

Runtime calls are told apart as the real endpoints tell them apart: `POST
/endpoints/NAME/invocations` (InvokeEndpoint), `/endpoints/NAME/invocations-response-stream`
(InvokeEndpointWithResponseStream) and `/endpoints/NAME/async-invocations` (InvokeEndpointAsync) signed for the `sagemaker` service; the control plane is `POST /` with an
`X-Amz-Target: SageMaker.*` header. CreateTransformJob is forwarded, then the job is run for real
(`transform_jobs.py`) and DescribeTransformJob / ListTransformJobs report its actual status.

`/_saasbridge/faults` (POST JSON `{"fault": "throttle"|"model_error", "count": N, "endpoint":
NAME}`, or `{"fault": "access_denied", "count": N, "action": "CreateTrainingJob"}`, DELETE to clear,
GET to list) injects failures for tests; `GET /_saasbridge/models` lists the archives whose model
servers run (a serverless endpoint's starts with its first request).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import unquote

import boto3
import urllib3
from werkzeug.serving import WSGIRequestHandler, make_server

from saasbridge.local.sagemaker.automl_jobs import AutoMLJobs
from saasbridge.local.sagemaker.endpoints import EndpointStates
from saasbridge.local.sagemaker.hosts import ModelHosts
from saasbridge.local.sagemaker.invocations import Clients, Faults, Reply, Runtime, access_denied, error_reply
from saasbridge.local.sagemaker.training_jobs import TrainingJobs
from saasbridge.local.sagemaker.transform_jobs import TransformJobs

RUNTIME_PATH = re.compile(r"/endpoints/([^/]+)/(invocations|async-invocations|invocations-response-stream)")
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d+/([^/]+)/([^/]+)/")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}
ADMIN_PREFIX = "/_saasbridge/"


def caller(headers: dict[str, str]) -> tuple[str, str, str]:
    """(access key id, region, signing service) from a SigV4 Authorization header."""
    match = CREDENTIAL.search(headers.get("authorization", ""))
    return match.groups() if match else ("testing", "us-east-1", "")  # type: ignore[return-value]


class Gateway:
    """The WSGI application of `saasbridge sagemaker serve`."""

    def __init__(self, upstream_url: str):
        self.upstream = upstream_url.rstrip("/")
        self.http = urllib3.PoolManager(maxsize=32)
        self.hosts = ModelHosts()
        self.faults = Faults()
        self.endpoints = EndpointStates(self.hosts)
        self.runtime = Runtime(self.hosts, self.faults, self.endpoints)
        self.transforms = TransformJobs(self.runtime)
        self.training = TrainingJobs()
        self.automl = AutoMLJobs()
        self._clients: dict[tuple[str, str], Clients] = {}
        self._clients_lock = threading.Lock()

    def clients(self, access_key: str, region: str) -> Clients:
        """Clients that reach moto as the caller does (moto keys its accounts on the access key)."""
        with self._clients_lock:
            found = self._clients.get((access_key, region))
            if found is None:
                session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key="stand-in",
                                                region_name=region)  # fmt: skip
                found = Clients(*(session.client(s, endpoint_url=self.upstream) for s in ("sagemaker", "s3", "logs")))
                self._clients[(access_key, region)] = found
            return found

    # ------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        body = self._body(environ)
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        access_key, region, service = caller(headers)
        runtime_call = RUNTIME_PATH.fullmatch(path)
        if path.startswith(ADMIN_PREFIX):
            reply = self._admin(method, path, body)
        elif method == "POST" and runtime_call and service in ("sagemaker", ""):
            name, kind = unquote(runtime_call.group(1)), runtime_call.group(2)
            clients, header = self.clients(access_key, region), lambda h: headers.get(h.lower())
            if kind == "invocations":
                reply = self.runtime.invoke(clients, name, body, header)
            elif kind == "invocations-response-stream":
                reply = self.runtime.invoke_stream(clients, name, body, header)
            else:
                reply = self.runtime.invoke_async(clients, name, header)
        else:
            reply = self._control_plane(environ, method, headers, body, access_key, region)
        out = list(reply.headers.items())
        if not any(k.lower() == "content-length" for k, _ in out):
            out.append(("Content-Length", str(len(reply.body))))
        start_response(f"{reply.status} {_reason(reply.status)}", out)
        return [reply.body]

    @staticmethod
    def _body(environ: dict[str, Any]) -> bytes:
        stream = environ["wsgi.input"]
        if environ.get("wsgi.input_terminated"):
            return stream.read()
        length = int(environ.get("CONTENT_LENGTH") or 0)
        return stream.read(length) if length else b""

    def _control_plane(self, environ: dict[str, Any], method: str, headers: dict[str, str], body: bytes,
                       access_key: str, region: str) -> Reply:  # fmt: skip
        target = headers.get("x-amz-target", "").removeprefix("SageMaker.")
        if target and self.faults.take("access_denied", target):
            return access_denied(target)
        if target == "UpdateEndpoint":  # moto has none (see EndpointStates.update)
            return self._update_endpoint(json.loads(body), self.clients(access_key, region))
        answered = self._jobs_run_here(target, body)
        if answered is not None:
            return answered
        forwarded = self.automl.for_moto(body) if target == "CreateAutoMLJobV2" else body
        reply = self._forward(environ, method, headers, forwarded)
        if reply.status != 200 or not target:
            return reply
        if target == "CreateEndpoint":  # UpdateEndpoint was answered above
            self.endpoints.start(json.loads(body)["EndpointName"], self.clients(access_key, region))
        elif target == "DeleteEndpoint":
            self.endpoints.forget(json.loads(body)["EndpointName"])
        elif target in ("DescribeEndpoint", "ListEndpoints"):
            reply.body = json.dumps(self.endpoints.describe(json.loads(reply.body))).encode()
        elif target == "CreateTransformJob":
            self.transforms.start(json.loads(body), self.clients(access_key, region))
        elif target in ("DescribeTransformJob", "ListTransformJobs"):
            reply.body = json.dumps(self.transforms.describe(json.loads(reply.body))).encode()
        elif target == "CreateTrainingJob":
            self.training.start(json.loads(body), self.clients(access_key, region))
        elif target in ("DescribeTrainingJob", "ListTrainingJobs"):
            reply.body = json.dumps(self.training.describe(json.loads(reply.body))).encode()
        elif target == "CreateAutoMLJobV2":
            self.automl.start(json.loads(body), self.clients(access_key, region))
        elif target in ("DescribeAutoMLJobV2", "DescribeAutoMLJob", "ListAutoMLJobs"):
            reply.body = json.dumps(self.automl.describe(json.loads(reply.body))).encode()
        return reply

    def _update_endpoint(self, request: dict[str, Any], clients: Clients) -> Reply:
        from botocore.exceptions import ClientError

        from saasbridge.errors import aws_error_code, aws_error_message

        try:
            arn = self.endpoints.update(request, clients)
        except ClientError as exc:
            return error_reply(exc.response["ResponseMetadata"].get("HTTPStatusCode", 400), aws_error_code(exc),
                               aws_error_message(exc))  # fmt: skip
        return Reply(200, json.dumps({"EndpointArn": arn}).encode(), {"Content-Type": "application/x-amz-json-1.1"})

    def _jobs_run_here(self, target: str, body: bytes) -> Reply | None:
        """The calls moto lacks for the jobs run here (stops, candidates); None: forward the call."""
        if target == "StopTransformJob":
            return self.transforms.stop(json.loads(body)["TransformJobName"])
        if target == "StopTrainingJob":
            return self.training.stop(json.loads(body)["TrainingJobName"])
        if target == "StopAutoMLJob":
            return self.automl.stop(json.loads(body)["AutoMLJobName"])
        if target == "ListCandidatesForAutoMLJob":
            return self.automl.list_candidates(json.loads(body))
        return None

    def _forward(self, environ: dict[str, Any], method: str, headers: dict[str, str], body: bytes) -> Reply:
        uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        if environ.get("QUERY_STRING") and "?" not in uri:
            uri += "?" + environ["QUERY_STRING"]
        out = {k: v for k, v in headers.items() if k not in HOP_BY_HOP}
        out["content-length"] = str(len(body))
        try:
            response = self.http.request(method, self.upstream + uri, body=body or None, headers=out, redirect=False,
                                         retries=False, preload_content=True, decode_content=False)  # fmt: skip
        except urllib3.exceptions.HTTPError as exc:
            return error_reply(502, "InternalFailure", f"the moto server at {self.upstream} did not answer: {exc}")
        kept = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
        if method != "HEAD":  # a HEAD answer's Content-Length is the object's size, not this body's
            kept = {k: v for k, v in kept.items() if k.lower() != "content-length"}
        return Reply(response.status, response.data, kept)

    def _admin(self, method: str, path: str, body: bytes) -> Reply:
        if path.rstrip("/") == ADMIN_PREFIX + "faults":
            if method == "POST":
                try:
                    spec = json.loads(body or b"{}")
                    target = spec.get("endpoint") or spec.get("action") or "*"
                    self.faults.add(spec["fault"], int(spec.get("count", 1)), target)
                except (ValueError, KeyError, TypeError) as exc:
                    return error_reply(400, "ValidationError", f"bad fault {body[:200]!r}: {exc}; send "
                                       '{"fault": "throttle"|"model_error", "count": N, "endpoint": NAME} or '
                                       '{"fault": "access_denied", "count": N, "action": ACTION}')  # fmt: skip
            elif method == "DELETE":
                self.faults.clear()
            return Reply(200, json.dumps(self.faults.snapshot()).encode(), {"Content-Type": "application/json"})
        if path.rstrip("/") == ADMIN_PREFIX + "models":
            return Reply(200, json.dumps(self.hosts.running()).encode(), {"Content-Type": "application/json"})
        if path.rstrip("/") == ADMIN_PREFIX + "health":
            return Reply(200, b'{"ok": true}', {"Content-Type": "application/json"})
        return error_reply(404, "UnknownOperationException", f"unknown stand-in path {path}")

    def close(self) -> None:
        """Stop the model servers (unfinished jobs are abandoned, as when an instance is stopped)."""
        self.endpoints.wait(timeout=1)
        self.transforms.wait(timeout=1)
        self.training.stop_all()
        self.automl.wait(timeout=1)
        self.hosts.stop_all()


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class GatewayServer:
    """The gateway on a loopback port, served by werkzeug's threaded server."""

    def __init__(self, upstream_url: str, port: int = 0):
        self.app = Gateway(upstream_url)
        self._server = make_server("127.0.0.1", port, self.app, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.app.close()
