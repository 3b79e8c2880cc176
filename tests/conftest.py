"""Shared fixtures: real servers on loopback, started once per test worker and always stopped."""

from __future__ import annotations

import pytest

DEMO_KEYS = {"acme": "demo-acme-key", "globex": "demo-globex-key"}


@pytest.fixture(scope="session")
def reference_api():
    """The reference SaaS API as a real process (small scale, generous rate limit)."""
    from saasbridge.local.processes import start_reference_api

    with start_reference_api(scale=0.1, seed=42, rate_limit=1000) as server:
        yield server


@pytest.fixture(scope="session")
def moto_server():
    """The moto server (S3 and Secrets Manager stand-in) as a real process."""
    from saasbridge.local.processes import start_moto_server

    with start_moto_server() as server:
        yield server


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """Point boto3 at the moto server with dummy credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return moto_server


@pytest.fixture
def fresh_session():
    """The AppFlow connector's cached catalog forgotten before and after the test."""
    from appflow_connector import session

    session.reset()
    yield
    session.reset()


@pytest.fixture(scope="session")
def sagemaker_standin(moto_server):
    """The SageMaker hosting stand-in (`saasbridge sagemaker serve`) as a real process, forwarding the
    control plane and S3 to the session's moto server; stops the model servers it started."""
    from saasbridge.local.sagemaker.standin import start_sagemaker_standin

    with start_sagemaker_standin(moto_server.url) as server:
        yield server


@pytest.fixture
def sagemaker_env(aws_env, sagemaker_standin, monkeypatch):
    """Point boto3 (S3, SageMaker, SageMaker runtime) at the stand-in with dummy credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", sagemaker_standin.url)
    return sagemaker_standin


@pytest.fixture
def fresh_athena():
    """The in-process Athena connector's container state (its client for this module's API) forgotten
    before and after, so no later test reaches a stopped server."""
    from athena_connector.handler import reset_container

    reset_container()
    yield
    reset_container()
