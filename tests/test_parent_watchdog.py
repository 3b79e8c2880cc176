"""A stand-in's child process runs while its parent does and exits once the parent is killed
(saasbridge.local.parent_watchdog), so a killed run leaves no orphan server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import sys, time
from saasbridge.local.parent_watchdog import exit_with_parent
exit_with_parent(int(sys.argv[1]))
print("watching", flush=True)
time.sleep(60)
"""
PARENT = f"""
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", {CHILD!r}, str(os.getpid())], stdout=subprocess.PIPE, text=True)
child.stdout.readline()
print(child.pid, flush=True)
time.sleep(60)
"""


def running(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan's new parent may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_the_child_runs_with_its_parent_and_exits_when_the_parent_is_killed():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, env=env)
    child_pid = int(parent.stdout.readline())
    try:
        time.sleep(1.5)  # three of the watchdog's polls
        assert running(child_pid)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while running(child_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(child_pid)
    finally:
        parent.kill()
        parent.wait()
        if running(child_pid):
            os.kill(child_pid, signal.SIGKILL)
