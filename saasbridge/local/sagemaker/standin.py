"""Run the SageMaker hosting stand-in: in the foreground (`saasbridge sagemaker serve`) or as a
subprocess for tests and the demo (`start_sagemaker_standin()`, a context manager).

    with start_moto_server() as moto, start_sagemaker_standin(moto.url) as sagemaker:
        os.environ["AWS_ENDPOINT_URL"] = sagemaker.url   # S3, SageMaker and its runtime
        inject_fault(sagemaker.url, "throttle", count=2)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from contextlib import ExitStack, suppress

from saasbridge.local import processes
from saasbridge.local.parent_watchdog import exit_with_parent

READY_PREFIX = "listening on "


def serve(port: int = 0, upstream_url: str | None = None, *, parent_pid: int = 0) -> None:
    """Serve until interrupted; without `upstream_url` a moto server is started for the run."""
    from saasbridge.local.sagemaker.gateway import GatewayServer

    if parent_pid:
        exit_with_parent(parent_pid)
    signal.signal(signal.SIGTERM, _interrupt)  # stop() terminates: still stop the model servers
    with ExitStack() as stack:
        if not upstream_url:
            upstream_url = stack.enter_context(processes.start_moto_server()).url
        server = GatewayServer(upstream_url, port)
        stack.callback(server.stop)
        print(f"{READY_PREFIX}{server.url}", flush=True)
        print(f"SageMaker stand-in on {server.url} (control plane and S3 forwarded to {upstream_url}); "
              "set AWS_ENDPOINT_URL to it. Ctrl-C stops it", file=sys.stderr)  # fmt: skip
        with suppress(KeyboardInterrupt):
            server.serve_forever()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def start_sagemaker_standin(upstream_url: str | None = None) -> processes.RunningServer:
    """Start the stand-in on a free loopback port, forwarding to the moto server at `upstream_url`
    (its own moto server when None), and wait until it answers. `.url` is the endpoint to give
    boto3; `stop()` (or leaving the `with` block) stops it and every model server it started."""
    args = ["-m", "saasbridge", "sagemaker", "serve", "--port", "0", "--parent-pid", str(os.getpid())]
    if upstream_url:
        args += ["--moto-url", upstream_url]
    server = processes._spawn("sagemaker", args)
    deadline = time.monotonic() + processes.READY_TIMEOUT_SECONDS
    server.url = processes._wait_for_line(server, READY_PREFIX, deadline)
    server.port = int(server.url.rsplit(":", 1)[1])
    processes._wait_for_http(server, server.url + "/_saasbridge/health", deadline)
    return server


def inject_fault(standin_url: str, fault: str, count: int = 1, endpoint: str | None = None,
                 action: str | None = None) -> dict[str, int]:  # fmt: skip
    """Make the next `count` runtime calls (to `endpoint`, or to any) answer `fault`: "throttle"
    (ThrottlingException) or "model_error" (ModelError, 424); or the next control-plane calls of
    `action` answer "access_denied" (AccessDeniedException). Returns the pending faults."""
    body = json.dumps({"fault": fault, "count": count, "endpoint": endpoint, "action": action}).encode()
    return _admin(standin_url, "POST", body)


def clear_faults(standin_url: str) -> dict[str, int]:
    return _admin(standin_url, "DELETE")


def _admin(standin_url: str, method: str, body: bytes | None = None) -> dict[str, int]:
    request = urllib.request.Request(f"{standin_url.rstrip('/')}/_saasbridge/faults", data=body, method=method,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
