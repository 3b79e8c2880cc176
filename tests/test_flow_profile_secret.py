"""The local connector profile's secret: create-or-update on the moto server, also when two runs
race to create it (both read "not found", both create; the second must update instead of failing)."""

from __future__ import annotations

import json
import threading
import uuid

import boto3

from saasbridge.drivers.appflow_profile import ensure_secret


class BothReadFirst:
    """A Secrets Manager client whose first get_secret_value waits until both runs have made it,
    so both see "not found" before either creates: the race, every time."""

    def __init__(self, barrier: threading.Barrier):
        self._client = boto3.client("secretsmanager")
        self._barrier = barrier
        self._first = True

    def get_secret_value(self, **kwargs):
        try:
            return self._client.get_secret_value(**kwargs)
        finally:
            if self._first:
                self._first = False
                self._barrier.wait(timeout=30)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_two_runs_creating_the_same_secret_both_succeed(aws_env):
    name = f"appflow!000000000000-saasbridge-race-{uuid.uuid4().hex[:6]}"
    barrier = threading.Barrier(2)
    values = [{"apiKey": "first-key"}, {"apiKey": "second-key"}]
    results: list = [None, None]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = ensure_secret(name, values[i], client=BothReadFirst(barrier))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    arns = {arn for arn, _ in results}
    assert len(arns) == 1  # one secret
    stored = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])
    assert stored in values  # whichever wrote last; never a half of each


def test_an_existing_secret_is_updated_only_when_it_changed(aws_env):
    name = f"appflow!000000000000-saasbridge-update-{uuid.uuid4().hex[:6]}"
    arn, changed = ensure_secret(name, {"apiKey": "a"})
    assert changed
    assert ensure_secret(name, {"apiKey": "a"}) == (arn, False)
    assert ensure_secret(name, {"apiKey": "b"}) == (arn, True)
    stored = boto3.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    assert json.loads(stored) == {"apiKey": "b"}
