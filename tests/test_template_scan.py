"""checkov, the scanner SaaS security teams run on a template before they deploy it, on template.yaml:
every finding is fixed, or skipped in the resource's Metadata with the reason (checkov's skip syntax).

checkov pins boto3 and packaging below what this project's tests need, so it runs from a virtualenv
of its own (`make .venv-scan/.installed`, which `make test` does), offline (`--skip-download`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXED = {"CKV_AWS_173": "Lambda environment variables encrypted", "CKV_AWS_158": "log group encrypted by KMS"}


def checkov() -> str:
    """$SAASBRIDGE_CHECKOV, the project's scan virtualenv, or checkov on PATH."""
    candidates = [os.environ.get("SAASBRIDGE_CHECKOV"), str(ROOT / ".venv-scan" / "bin" / "checkov"),
                  shutil.which("checkov")]
    found = next((c for c in candidates if c and Path(c).is_file()), None)
    if found is None:
        pytest.fail("checkov is not installed: run `make .venv-scan/.installed` (make test does)")
    return found


def every_switch_on(directory: Path) -> Path:
    """template.yaml with each true/false parameter defaulting to "true": checkov evaluates conditions
    with the defaults, so optional resources (ModelLogSync, …) are scanned only in this copy."""
    from cfnlint.decode import decode_str

    template, problems = decode_str((ROOT / "template.yaml").read_text())
    assert not problems, problems
    for parameter in template["Parameters"].values():
        if sorted(map(str, parameter.get("AllowedValues", []))) == ["false", "true"]:
            parameter["Default"] = "true"
    if "ScoringApi" in template["Parameters"]:  # the optional scoring API, in its mode with the most resources
        template["Parameters"]["ScoringApi"]["Default"] = "api-key"
    path = directory / "template-every-switch-on.json"
    path.write_text(json.dumps(template))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    switched_on = every_switch_on(tmp_path_factory.mktemp("scan"))
    proc = subprocess.run(
        [checkov(), "--file", "template.yaml", "--file", str(switched_on), "--framework", "cloudformation",
         "--skip-download", "--output", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode in (0, 1) and proc.stdout.strip(), proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_checkov_finds_nothing_unexplained(report):
    summary, results = report["summary"], report["results"]
    assert summary["parsing_errors"] == 0 and summary["resource_count"] >= 20  # both copies
    assert summary["passed"] >= 50  # the templates were scanned, not skipped
    failed = sorted({f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in results["failed_checks"]})
    assert failed == [], "fix these in template.yaml or skip them in the resource's Metadata with the reason:\n" + \
        "\n".join(failed)
    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment") or ""
        assert len(reason) > 30, f"{check['check_id']} on {check['resource']} is skipped without a reason"


def test_kms_findings_are_fixed_not_skipped(report):
    """With KMSKeyId the key encrypts environment variables and log groups: those pass."""
    skipped = {c["check_id"] for c in report["results"]["skipped_checks"]}
    passed = {c["check_id"] for c in report["results"]["passed_checks"]}
    for check_id, what in FIXED.items():
        assert check_id in passed and check_id not in skipped, what
