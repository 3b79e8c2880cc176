"""Which model serves an endpoint (read from the control plane) and the model-server processes that
serve them (one per archive and environment), started with the endpoint or on first use and
stopped with the stand-in."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saasbridge.errors import ConfigError
from saasbridge.local import processes
from saasbridge.local.sagemaker.container import READY_PREFIX
from saasbridge.local.sagemaker.model_archive import ModelArchiveError, unpack_model
from saasbridge.s3url import is_s3_url, parse_s3_url

MODEL_START_TIMEOUT_SECONDS = 120.0


class EndpointNotFound(LookupError):
    """No such endpoint (or not InService) in the control plane."""


class ModelStartError(RuntimeError):
    """The model's archive could not be fetched or its server did not start."""


@dataclass(frozen=True)
class ModelSpec:
    """What a model server is started from: the model's primary container."""

    model_name: str
    model_data_url: str
    environment: tuple[tuple[str, str], ...]

    @property
    def server_key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Models with the same archive and environment share one server (they would answer alike)."""
        return self.model_data_url, self.environment


@dataclass(frozen=True)
class EndpointTarget:
    endpoint_name: str
    variant_name: str
    model: ModelSpec
    async_config: dict[str, Any]
    serverless: dict[str, Any] = field(default_factory=dict)  # the variant's ServerlessConfig


def model_spec(sagemaker: Any, model_name: str, extra_env: dict[str, str] | None = None) -> ModelSpec:
    """The model's primary (or first) container as a ModelSpec."""
    model = sagemaker.describe_model(ModelName=model_name)
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    url = container.get("ModelDataUrl")
    if not url:
        raise ModelStartError(f"model {model_name} has no ModelDataUrl (a model.tar.gz in S3) to serve")
    env = {**(container.get("Environment") or {}), **(extra_env or {})}
    return ModelSpec(model_name, url, tuple(sorted(env.items())))


def resolve_endpoint(sagemaker: Any, endpoint_name: str, variant: str | None = None) -> EndpointTarget:
    """Endpoint → its configuration → the production variant's model (the named one, else the first)."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except sagemaker.exceptions.ClientError as exc:
        raise EndpointNotFound(endpoint_name) from exc
    if endpoint.get("EndpointStatus") != "InService":
        raise EndpointNotFound(endpoint_name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    variants = config.get("ProductionVariants") or []
    if not variants:
        raise ModelStartError(f"endpoint configuration {config['EndpointConfigName']} has no production variant")
    chosen = next((v for v in variants if v.get("VariantName") == variant), None) if variant else variants[0]
    if chosen is None:
        raise ModelStartError(f"endpoint {endpoint_name} has no production variant {variant}")
    return EndpointTarget(endpoint_name, chosen.get("VariantName", "AllTraffic"),
                          model_spec(sagemaker, chosen["ModelName"]), config.get("AsyncInferenceConfig") or {},
                          chosen.get("ServerlessConfig") or {})  # fmt: skip


class ModelHosts:
    """Model servers by archive and environment: the archive is fetched from the S3 stand-in and unpacked into a
    temporary directory, then `container.py` serves it in its own process."""

    def __init__(self) -> None:
        self._servers: dict[tuple, processes.RunningServer] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    def url_for(self, spec: ModelSpec, s3: Any) -> str:
        """The model server's URL, starting it first if needed (one start per spec at a time)."""
        with self._lock:
            lock = self._locks.setdefault(spec.server_key, threading.Lock())
        with lock:
            server = self._servers.get(spec.server_key)
            if server is not None and server.process.poll() is None:
                return server.url
            server = self._start(spec, s3)
            self._servers[spec.server_key] = server
            return server.url

    def _start(self, spec: ModelSpec, s3: Any) -> processes.RunningServer:
        workdir = Path(tempfile.mkdtemp(prefix="saasbridge-sagemaker-model-"))
        env = dict(spec.environment)
        # The archives come from the local S3 stand-in the user deployed them to: loading them (model_fn
        # unpickles) is what SageMaker's container does with the archive its owner configured.
        try:
            url = spec.model_data_url
            model_dir = unpack_model(self._fetch(s3, url, spec), workdir / "model", url)
            source = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
            if is_s3_url(source):  # the SDK's sourcedir.tar.gz, when the code is not in the model
                env["SAGEMAKER_SUBMIT_DIRECTORY"] = str(unpack_model(self._fetch(s3, source, spec), workdir / "code", source))
        except (ModelStartError, ModelArchiveError) as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise ModelStartError(f"model {spec.model_name}: {exc}") from None
        args = ["-m", "saasbridge.local.sagemaker.container", "--model-dir", str(model_dir),
                "--parent-pid", str(os.getpid())]  # fmt: skip
        server = processes._spawn(f"sagemaker-model-{spec.model_name}", args, workdir, env)
        try:
            server.url = processes._wait_for_line(server, READY_PREFIX, time.monotonic() + MODEL_START_TIMEOUT_SECONDS)
        except processes.ServerStartError as exc:
            raise ModelStartError(f"model {spec.model_name} did not start: {exc}") from None
        return server

    @staticmethod
    def _fetch(s3: Any, url: str, spec: ModelSpec) -> bytes:
        try:
            where = parse_s3_url(url, "ModelDataUrl", need_key=True)
            return s3.get_object(Bucket=where.bucket, Key=where.key)["Body"].read()
        except (ConfigError, s3.exceptions.ClientError) as exc:
            raise ModelStartError(f"cannot read {url}: {exc}") from None

    def running(self) -> list[str]:
        """The model archives (ModelDataUrl) whose servers run, sorted."""
        with self._lock:
            return sorted({key[0] for key, server in self._servers.items() if server.process.poll() is None})

    def stop_all(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.stop()
