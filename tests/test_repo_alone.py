"""The repository alone is enough: its tests collect in a copy with nothing beside it, and no file
names a path of one machine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conformance.cases import ROOT

# a home or work folder of one machine written into a file (an absolute path under work, home or Users)
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home|Users)/\w")


def tracked_files() -> list[str]:
    """What a clone holds: the tracked files, plus new ones not yet committed (not ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                         check=True, capture_output=True).stdout.decode()
    return [name for name in out.split("\0") if name and (ROOT / name).is_file()]


def test_no_file_names_a_machine_path():
    found = []
    for name in tracked_files():
        if name.startswith("tests/fixtures/"):
            continue  # recorded data
        try:
            text = (ROOT / name).read_text()
        except UnicodeDecodeError:
            continue
        found += [f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if MACHINE_PATH.search(line)]
    assert found == []


def test_the_suite_collects_in_a_copy_with_nothing_beside_it(tmp_path: Path):
    repo = tmp_path / "clone"
    for name in tracked_files():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clone"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAASBRIDGE_")}
    env["PYTHONPATH"] = str(repo)  # the copy's modules, not the editable install's
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly",
                          "-p", "no:cacheprovider", "tests"], cwd=repo, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"^\d+ tests collected", run.stdout, re.M), run.stdout[-500:]
