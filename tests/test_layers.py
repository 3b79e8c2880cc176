"""The layer rules hold: `lint-imports` checks the contracts in pyproject.toml ([tool.importlinter],
drawn in docs/architecture.md) over grimp's graph, which holds every import, those inside
functions too. Each planted violation below, made in a copy of the project, breaks the check."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IMPORTLINTER = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
ROOT_PACKAGES: list[str] = IMPORTLINTER["root_packages"]


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` over the project in `project`: its packages first on the path, no cache."""
    env = {**os.environ, "PYTHONPATH": str(project), "COLUMNS": "300"}  # rich wraps at 80 otherwise
    command = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run(
        [sys.executable, "-c", command, "--no-cache", "--no-logo", "pyproject.toml"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_project_keeps_its_layer_rules():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(IMPORTLINTER['contracts'])} kept, 0 broken." in result.stdout, result.stdout


def layer(text: str) -> tuple[str, list[str]]:
    """A layer as the contract writes it ("a | b", "a : b", "a") as (delimiter, sorted module names)."""
    delimiter = ":" if ":" in text else "|"
    return delimiter, sorted(name.strip() for name in text.split(delimiter))


def drawn_layers() -> list[str]:
    """The rows of the box drawing in docs/architecture.md ("Layers"), top first."""
    section = (REPO / "docs" / "architecture.md").read_text().split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows: list[str] = []
    for line in section.splitlines():
        if line.lstrip().startswith("├") or line.lstrip().startswith("┌"):
            rows.append("")
        elif line.lstrip().startswith("│"):
            rows[-1] += " " + re.sub(r"\(.*?\)", "", line.strip(" │"))
    return [" ".join(row.split()) for row in rows]


def test_the_drawing_in_the_architecture_doc_has_the_contract_s_layers():
    (layers,) = (c["layers"] for c in IMPORTLINTER["contracts"] if c["id"] == "layers")
    assert [layer(row) for row in drawn_layers()] == [layer(text) for text in layers]


def _not_python(directory: str, names: list[str]) -> list[str]:
    """What `copytree` leaves out: all but Python files and the folders holding them."""
    return [name for name in names if name == "__pycache__" or not (
        name.endswith(".py") or os.path.isdir(os.path.join(directory, name)))]  # fmt: skip


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The Python files of the packages the contracts cover, and pyproject.toml, in a temporary directory."""
    for package in ROOT_PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=_not_python)
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


def plant(project: Path, module: str, code: str) -> None:
    """Append `code` to the file of `module` (a new file when there is none) in `project`."""
    base = project / module.replace(".", "/")
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    text = path.read_text() if path.exists() else '"""A planted module."""\n'
    path.write_text(text + "\n\n" + code + "\n")


LAZY = "def planted():\n    {}\n"  # an import inside a function: the check sees it too

PLANTED_VIOLATIONS = {
    "core imports local (in a function)": (
        "saasbridge.catalog.model", LAZY.format("from saasbridge.local import processes"),
        "saasbridge.catalog is not allowed to import saasbridge.local",
    ),
    "core imports a connector": (
        "saasbridge.query.planner", "import athena_connector.handler",
        "saasbridge.query is not allowed to import athena_connector",
    ),
    "core imports local through the package façade": (
        "saasbridge.errors", LAZY.format("import saasbridge"),
        "saasbridge.errors is not allowed to import saasbridge.local",
    ),
    "core imports the reference API": (
        "saasbridge.client.http", LAZY.format("import demo_saas.server"),
        "saasbridge.client is not allowed to import demo_saas",
    ),
    "a connector imports the other": (
        "appflow_connector.filters", "from athena_connector import protocol",
        "appflow_connector is not allowed to import athena_connector",
    ),
    "a connector imports local": (
        "athena_connector.handler", LAZY.format("from saasbridge.local import processes"),
        "athena_connector is not allowed to import saasbridge.local",
    ),
    "a connector imports the CLI": (
        "appflow_connector.records", LAZY.format("import saasbridge.cli"),
        "appflow_connector is not allowed to import saasbridge.cli",
    ),
    "the drivers import a connector's internals": (
        "saasbridge.drivers.planted", "from athena_connector.protocol import messages",
        "saasbridge.drivers is not allowed to import athena_connector",
    ),
    "the drivers import sagemaker": (
        "saasbridge.drivers.planted", "import saasbridge.sagemaker.aws",
        "saasbridge.drivers is not allowed to import saasbridge.sagemaker",
    ),
    "the build tool imports local": (
        "saasbridge.build", LAZY.format("from saasbridge.local import env"),
        "saasbridge.build is not allowed to import saasbridge.local",
    ),
    "the build tool imports a connector": (
        "saasbridge.build", "import appflow_connector.handler",
        "saasbridge.build is not allowed to import appflow_connector",
    ),
    "sagemaker imports local": (
        "saasbridge.sagemaker.aws", LAZY.format("from saasbridge.local import env"),
        "saasbridge.sagemaker is not allowed to import saasbridge.local",
    ),
    "sagemaker imports a connector past the drivers": (
        "saasbridge.sagemaker.aws", "import appflow_connector.handler",
        "saasbridge.sagemaker is not allowed to import appflow_connector",
    ),
    "local imports the reference API": (
        "saasbridge.local.processes", LAZY.format("from demo_saas.server import exit_with_parent"),
        "saasbridge.local is not allowed to import demo_saas",
    ),
    "local imports the CLI": (
        "saasbridge.local.env", LAZY.format("import saasbridge.cli"),
        "saasbridge.local is not allowed to import saasbridge.cli",
    ),
    "the reference API imports saasbridge": (
        "demo_saas.data", LAZY.format("from saasbridge import errors"),
        "demo_saas is not allowed to import saasbridge",
    ),
    "the benchmarks import tests": (
        "bench.support", LAZY.format("from tests import helpers"),
        "bench is not allowed to import tests",
    ),
    "a module of saasbridge in no layer": (
        "saasbridge.unplaced", "x = 1", "- saasbridge.unplaced",
    ),
}


@pytest.mark.parametrize(("module", "code", "complaint"), PLANTED_VIOLATIONS.values(), ids=PLANTED_VIOLATIONS)
def test_a_planted_violation_breaks_the_check(project_copy, module, code, complaint):
    plant(project_copy, module, code)
    result = lint_imports(project_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert complaint in result.stdout, result.stdout


def test_the_drivers_may_call_a_connector_through_its_handler(project_copy):
    """The copy keeps the rules (so each planted violation above is what breaks them), and a
    driver's import of a connector's handler is one of the rules, not a violation."""
    plant(project_copy, "saasbridge.drivers.planted", "from athena_connector import handler\nimport appflow_connector.handler")
    result = lint_imports(project_copy)
    assert result.returncode == 0, result.stdout + result.stderr
