"""The reliability table: what the fault/abuse suite injected and what came out.

Tests call `record(...)` with what they measured (one JSON line per case, per worker, under
`.saasbridge/reliability/`); `python -m tests.reliability_report` prints the collected table as
Markdown, `--run` first runs the reliability tests with a clean results directory, and
`--update-readme` writes the table into README.md between the reliability markers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(os.environ.get("SAASBRIDGE_RELIABILITY_DIR", ROOT / ".saasbridge" / "reliability"))
README = ROOT / "README.md"
START, END = "<!-- reliability:start -->", "<!-- reliability:end -->"
SUITE = [
    "tests/test_faults.py",
    "tests/test_fuzz_handlers.py",
    "tests/test_injection.py",
    "tests/test_secrets.py",
    "tests/test_isolation.py",
]
AREAS = ["faults", "bad input", "injection", "secrets", "isolation", "soak"]
_lock = threading.Lock()


def record(area: str, case: str, injected: str, expected: object, delivered: object) -> None:
    """Append one measured case as passed: the tests call this only after their assertions ran, so
    a failing case leaves no row (and `--run` starts from an empty results directory)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    row = {"area": area, "case": case, "injected": injected, "expected": str(expected),
           "delivered": str(delivered), "result": "pass"}
    with _lock:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        with open(RESULTS_DIR / f"{worker}-{os.getpid()}.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")


def collect(directory: Path = RESULTS_DIR) -> list[dict]:
    rows: dict[tuple[str, str], dict] = {}
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows[(row["area"], row["case"])] = row  # the latest run of a case wins
    order = {a: i for i, a in enumerate(AREAS)}
    return sorted(rows.values(), key=lambda r: (order.get(r["area"], 99), r["case"]))


def markdown(rows: list[dict]) -> str:
    if not rows:
        return "_No results yet: run `python -m tests.reliability_report --run --update-readme`._"
    lines = ["| area | case | injected / inputs tried | expected | delivered | result |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r[k].replace("|", "\\|") for k in ("area", "case", "injected", "expected", "delivered", "result")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def update_readme(table: str, readme: Path = README) -> None:
    text = readme.read_text(encoding="utf-8")
    block = f"{START}\n{table}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Reliability\n\n" + block + "\n"
    readme.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability_report", description=__doc__)
    parser.add_argument("--run", action="store_true", help="run the reliability tests first (clean results)")
    parser.add_argument("--soak", action="store_true", help="with --run: also run the soak test")
    parser.add_argument("--update-readme", action="store_true", help="write the table into README.md")
    args = parser.parse_args(argv)
    if args.run:
        for old in RESULTS_DIR.glob("*.jsonl"):
            old.unlink()
        tests = SUITE + (["tests/test_soak.py"] if args.soak else [])
        marker = [] if args.soak else ["-m", "not soak"]
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-n", "2", *marker, *tests], cwd=ROOT)
        if code != 0:
            print(f"reliability tests failed (exit {code}); the table shows what was recorded", file=sys.stderr)
    table = markdown(collect())
    print(table)
    if args.update_readme:
        update_readme(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
