"""A stand-in's child process exits when the process that started it is gone, so a killed test run
or tour leaves no orphan server behind.

The reference SaaS API (demo_saas.server) has its own copy: it imports nothing of saasbridge, so
it stays a stand-alone server (pyproject.toml, contract 'reference-api-stands-alone')."""

from __future__ import annotations

import os
import threading
import time

POLL_SECONDS = 0.5


def exit_with_parent(parent_pid: int) -> None:
    """Exit this process as soon as its parent `parent_pid` is gone."""

    def watch() -> None:
        while True:
            time.sleep(POLL_SECONDS)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
