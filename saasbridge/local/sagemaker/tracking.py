"""Named work running in background threads (endpoint creation, transform jobs) and its state, kept
so the control plane's Describe/List answers can report what really happened."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

State = TypeVar("State")


class Tracked(Generic[State]):
    def __init__(self) -> None:
        self._states: dict[str, State] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def launch(self, name: str, state: State, work: Callable[[], None]) -> None:
        """Record `state` under `name` and run `work` (which updates it) in a daemon thread."""
        thread = threading.Thread(target=work, name=f"sagemaker-{name}", daemon=True)
        with self._lock:
            self._states[name] = state
            self._threads.append(thread)
        thread.start()

    def get(self, name: str) -> State | None:
        with self._lock:
            return self._states.get(name)

    def forget(self, name: str) -> None:
        with self._lock:
            self._states.pop(name, None)

    def wait(self, timeout: float | None = None) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def patch(self, response: dict[str, Any], name_key: str, list_key: str,
              fields: Callable[[State], dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
        """A Describe answer (or each item of a List answer's `list_key`) of tracked work with the
        fields its state gives; a field whose value is None is removed."""
        for item in [response, *response.get(list_key, [])]:
            state = self.get(item.get(name_key, ""))
            if state is None:
                continue
            for key, value in fields(state).items():
                if value is None:
                    item.pop(key, None)
                else:
                    item[key] = value
        return response
