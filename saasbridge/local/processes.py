"""Start and stop the local servers as real subprocesses on free loopback ports.

`start_reference_api(...)` runs the reference SaaS API (`python -m demo_saas.server`),
`start_moto_server()` runs moto's server (S3, Secrets Manager stand-in), `start_lambda_serve(env)`
runs `saasbridge lambda serve` with extra environment variables. Each returns a
`RunningServer` that is ready when returned, is a context manager, and never outlives its parent:
`stop()` terminates then kills, an atexit hook stops what is left, and the child itself exits
when its parent process is gone.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import IO

from saasbridge.errors import SaasBridgeError
from saasbridge.local.parent_watchdog import exit_with_parent

READY_TIMEOUT_SECONDS = 120.0  # seeding scale 1 takes seconds; a loaded CI machine is slower
STOP_TIMEOUT_SECONDS = 5.0
_API_READY_PREFIX = "listening on "  # printed by demo_saas.server

_running: weakref.WeakSet[RunningServer] = weakref.WeakSet()


class ServerStartError(SaasBridgeError):
    """A local server did not become ready."""


class RunningServer:
    """A server subprocess: `.url`, `.port`, `.db_path` (reference API only), `.stop()`."""

    def __init__(self, name: str, process: subprocess.Popen, workdir: Path, logs: list[IO[bytes]]):
        self.name = name
        self.process = process
        self.url = ""
        self.port = 0
        self.db_path: Path | None = None
        self._workdir = workdir
        self._logs = logs
        self._lock = threading.Lock()
        self._stopped = False
        _running.add(self)

    @property
    def stderr_path(self) -> Path:
        return self._workdir / "stderr.log"

    def stderr_tail(self, lines: int = 8) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())

    def stop(self) -> None:
        """Terminate (then kill after a timeout) and remove the server's temporary files. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for log in self._logs:
            log.close()
        shutil.rmtree(self._workdir, ignore_errors=True)
        _running.discard(self)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else f"pid {self.process.pid}"
        return f"<RunningServer {self.name} {self.url or '(starting)'} {state}>"


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()


def _spawn(
    name: str, args: list[str], workdir: Path | None = None, extra_env: dict[str, str] | None = None
) -> RunningServer:
    workdir = workdir or Path(tempfile.mkdtemp(prefix=f"saasbridge-{name}-"))
    stdout = open(workdir / "stdout.log", "wb")  # noqa: SIM115 (closed by RunningServer.stop)
    stderr = open(workdir / "stderr.log", "wb")  # noqa: SIM115
    env = {**os.environ, **(extra_env or {}), "PYTHONUNBUFFERED": "1"}
    try:
        process = subprocess.Popen(
            [sys.executable, *args], stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env
        )
    except OSError as exc:
        stdout.close()
        stderr.close()
        shutil.rmtree(workdir, ignore_errors=True)
        raise ServerStartError(f"cannot start the {name} server: {exc}") from None
    return RunningServer(name, process, workdir, [stdout, stderr])


def _fail(server: RunningServer, why: str) -> ServerStartError:
    tail = server.stderr_tail()
    server.stop()
    return ServerStartError(f"the {server.name} server {why}" + (f"; its stderr ends: {tail}" if tail else ""))


def _wait_for_line(server: RunningServer, prefix: str, deadline: float) -> str:
    path = server._workdir / "stdout.log"
    while time.monotonic() < deadline:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        if server.process.poll() is not None:
            raise _fail(server, f"exited with code {server.process.returncode} before it was ready")
        time.sleep(0.05)
    raise _fail(server, f"printed no {prefix!r} line within {READY_TIMEOUT_SECONDS:.0f} s")


def _wait_for_http(server: RunningServer, url: str, deadline: float, *, any_status: bool = False) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise _fail(server, f"exited with code {server.process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError:
            if any_status:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.05)
    raise _fail(server, f"did not answer {url} within {READY_TIMEOUT_SECONDS:.0f} s")


def start_reference_api(
    *,
    scale: float = 1.0,
    seed: int = 42,
    rate_limit: float = 50,
    latency_ms: int = 0,
    fail_rate: float = 0.0,
    db_path: str | os.PathLike | None = None,
    port: int | None = None,
    request_log: str | os.PathLike | None = None,
) -> RunningServer:
    """Start the reference SaaS API on 127.0.0.1 (a free port unless `port` is given) and wait
    until `/healthz` answers. Without `db_path` the database lives in a temporary directory that
    `stop()` removes."""
    workdir = Path(tempfile.mkdtemp(prefix="saasbridge-reference-api-"))
    db = Path(db_path) if db_path is not None else workdir / "reference-api.sqlite"
    args = [
        "-m", "demo_saas.server", "--host", "127.0.0.1", "--port", str(port or 0),
        "--scale", repr(float(scale)), "--seed", str(int(seed)), "--rate-limit", repr(float(rate_limit)),
        "--latency-ms", str(int(latency_ms)), "--fail-rate", repr(float(fail_rate)),
        "--db", os.fspath(db), "--parent-pid", str(os.getpid()),
    ]
    if request_log is not None:
        args += ["--request-log", os.fspath(request_log)]
    server = _spawn("reference-api", args, workdir)
    server.db_path = db
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    server.url = _wait_for_line(server, _API_READY_PREFIX, deadline)
    server.port = int(server.url.rsplit(":", 1)[1])
    _wait_for_http(server, server.url + "/healthz", deadline)
    return server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto_server() -> RunningServer:
    """Start moto's server (S3, Secrets Manager, …) on a free 127.0.0.1 port and wait until it answers."""
    last_error: ServerStartError | None = None
    for _attempt in range(3):  # a free port can be taken between probing and binding it
        port = _free_port()
        server = _spawn("moto", ["-m", "saasbridge.local.processes", "moto", str(port), str(os.getpid())])
        server.port = port
        server.url = f"http://127.0.0.1:{port}"
        try:
            _wait_for_http(server, server.url + "/moto-api/", time.monotonic() + READY_TIMEOUT_SECONDS, any_status=True)
        except ServerStartError as exc:
            last_error = exc
            if "in use" not in str(exc):
                raise
            continue
        return server
    assert last_error is not None
    raise last_error


def start_lambda_serve(env: dict[str, str]) -> RunningServer:
    """Start `saasbridge lambda serve` on a free 127.0.0.1 port with `env` added to this process's
    environment (the connectors read their settings from it) and wait until it answers."""
    port = _free_port()
    server = _spawn("lambda-serve", ["-m", "saasbridge", "lambda", "serve", "--port", str(port), "--quiet"],
                    extra_env=env)
    server.port = port
    server.url = f"http://127.0.0.1:{port}"
    _wait_for_http(server, server.url + "/", time.monotonic() + READY_TIMEOUT_SECONDS, any_status=True)
    return server


def _run_moto(port: int, parent_pid: int) -> None:
    """Child side of `start_moto_server`: moto's own server, plus a parent watchdog."""
    from moto.server import main as moto_main

    exit_with_parent(parent_pid)
    _serialize_dynamodb()
    _filter_sagemaker_jobs_before_paging()
    _current_follows_version_stage()
    moto_main(["-H", "127.0.0.1", "-p", str(port)])


def _serialize_dynamodb() -> None:
    """moto answers each request on its own thread and its DynamoDB backend takes no lock, so two
    conditional updates of one item can interleave; DynamoDB applies each one atomically. One
    lock around DynamoDB requests restores that (the shared API budget relies on it); the same
    for Secrets Manager, whose conditional version-stage moves the OAuth2 token store relies on."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    lock = threading.Lock()
    dispatch = DomainDispatcherApplication.__call__

    def serialized(self, environ, start_response):  # noqa: ANN001, ANN202 - a WSGI callable
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(("DynamoDB_", "secretsmanager.")):
            with lock:
                return dispatch(self, environ, start_response)
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = serialized


def _filter_sagemaker_jobs_before_paging() -> None:
    """moto cuts ListTrainingJobs/ListTransformJobs into pages first and filters each page after, so
    a filtered listing of 20,000 jobs takes as many calls as an unfiltered one; SageMaker filters
    first and pages what matched. Filter over every job, then page."""
    from moto.sagemaker.exceptions import AWSValidationException
    from moto.sagemaker.models import SageMakerModelBackend

    for name in ("list_training_jobs", "list_transform_jobs"):
        unpaged = getattr(SageMakerModelBackend, name)

        def filtered_then_paged(self, next_token, max_results, *args, _unpaged=unpaged, **filters):  # noqa: ANN001, ANN202
            answer = _unpaged(self, None, None, *args, **filters)  # no max_results: every match, no token
            key = next(k for k in answer if k.endswith("Summaries"))
            try:
                start = int(next_token or 0)
            except ValueError:
                raise AWSValidationException(f"Invalid pagination token {next_token!r}") from None
            end = start + max_results if max_results else len(answer[key])
            return {key: answer[key][start:end], "NextToken": str(end) if end < len(answer[key]) else None}

        setattr(SageMakerModelBackend, name, filtered_then_paged)


def _current_follows_version_stage() -> None:
    """moto moves the AWSCURRENT label in UpdateSecretVersionStage but keeps answering
    GetSecretValue with the version it had; Secrets Manager answers with the one labelled."""
    from moto.secretsmanager.models import SecretsManagerBackend

    move = SecretsManagerBackend.update_secret_version_stage

    def update(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):  # noqa: ANN001, ANN202
        answer = move(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            self.secrets[secret_id].set_default_version_id(move_to_version_id)
        return answer

    SecretsManagerBackend.update_secret_version_stage = update


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "moto":
        _run_moto(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("usage: python -m saasbridge.local.processes moto PORT PARENT_PID")
