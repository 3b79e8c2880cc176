"""Cold start of the Lambda handlers: import time in a fresh interpreter, and package size.

Each handler is imported in a new `python -I -S -X importtime` process whose path is the
deployment package (built by `saasbridge package` for this machine and the running Python) plus
boto3/botocore standing in for the Lambda runtime's copy, the way /var/task and /var/runtime
sit on Lambda. Figures are medians over repeated processes; `import_ms` is the handler module's
cumulative import time from `-X importtime`, `process_ms` the whole process wall time (interpreter
start included), `heaviest` the slowest imports below the handler.

    python -m bench.cold_start [--quick]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HANDLERS = ("athena_connector.handler", "appflow_connector.handler")
RUNTIME_STANDIN = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil")


def build_package(output: Path) -> tuple[Path, int, int]:
    """The x86_64 package for the running Python: (directory, unzipped bytes, zipped bytes)."""
    from saasbridge.build.lambda_package import build

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    arch = "x86_64" if platform.machine() == "x86_64" else "arm64"
    result = build(arch, python=python, output=output, log=lambda _: None)
    return result.directory, result.unzipped_bytes, result.zipped_bytes


def runtime_standin(root: Path) -> Path:
    """A directory holding the runtime-provided AWS SDK (symlinks into this environment)."""
    import importlib

    root.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_STANDIN:
        link = root / name
        if not link.exists():
            link.symlink_to(Path(importlib.import_module(name).__file__).parent)
    six = importlib.import_module("six")
    if not (root / "six.py").exists():
        (root / "six.py").symlink_to(six.__file__)
    return root


def parse_importtime(stderr: str, module: str) -> tuple[float, list[tuple[float, str]]]:
    """(cumulative µs of `module`, [(cumulative µs, name)] of its direct imports, slowest first)."""
    rows = []  # (cumulative µs, indentation, name)
    for line in stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        rows.append((float(parts[1]), len(name) - len(name.lstrip()), name.strip()))
    end = next(i for i, row in enumerate(rows) if row[2] == module)
    total, depth, _ = rows[end]
    # -X importtime prints a module's imports (deeper indentation) just before the module itself.
    children = []
    for us, indent, name in reversed(rows[:end]):
        if indent <= depth:
            break
        if indent == depth + 2:
            children.append((us, name))
    return total, sorted(children, reverse=True)


def measure(module: str, path: list[Path], runs: int) -> dict:
    code = f"import sys; sys.path[:0] = {[str(p) for p in path]!r}; import {module}"
    imports, walls, heaviest = [], [], {}
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", "-c", code],
                              capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        walls.append((time.perf_counter() - start) * 1000)
        if proc.returncode:
            raise RuntimeError(f"importing {module} failed: {proc.stderr.strip().splitlines()[-1]}")
        total, children = parse_importtime(proc.stderr, module)
        imports.append(total / 1000)
        for us, name in children:
            heaviest.setdefault(name, []).append(us / 1000)
    top = sorted(((statistics.median(v), k) for k, v in heaviest.items()), reverse=True)[:3]
    return {
        "import_ms": round(statistics.median(imports), 1),
        "process_ms": round(statistics.median(walls), 1),
        "heaviest": ", ".join(f"{name} {ms:.0f} ms" for ms, name in top),
    }


def run(quick: bool = False) -> list[dict]:
    runs = 3 if quick else 11
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        package, unzipped, zipped = build_package(Path(tmp) / "lambda")
        runtime = runtime_standin(Path(tmp) / "var-runtime")
        # A cross-built package (python3.12 from here) carries no bytecode: Lambda compiles each
        # module at every cold start, since /var/task is read-only. Measure that case too.
        no_pyc = Path(tmp) / "no-pyc"
        shutil.copytree(package, no_pyc, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), symlinks=True)
        baseline = measure_empty(runs)
        for module in HANDLERS:
            for variant, directory in (("with .pyc", package), ("no .pyc", no_pyc)):
                row = {"handler": module, "bytecode": variant, "runs": runs,
                       **measure(module, [directory, runtime], runs)}
                row["interpreter_ms"] = baseline
                row["package_unzipped_mb"] = round(unzipped / 1024 / 1024, 1)
                row["package_zipped_mb"] = round(zipped / 1024 / 1024, 1)
                results.append(row)
    return results


def measure_empty(runs: int) -> float:
    """Median wall time of a bare interpreter start, for scale."""
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
        walls.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(walls), 1)


def markdown(results: list[dict]) -> str:
    lines = [
        f"Cold start ({platform.machine()}, Python {platform.python_version()}, median of {results[0]['runs']} "
        f"fresh processes; package {results[0]['package_unzipped_mb']} MB unzipped / "
        f"{results[0]['package_zipped_mb']} MB zipped; bare interpreter {results[0]['interpreter_ms']} ms)",
        "",
        "| handler | bytecode | import ms | process ms | heaviest imports |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(f"| `{r['handler']}` | {r['bytecode']} | {r['import_ms']} | {r['process_ms']} | {r['heaviest']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs instead of 11")
    args = parser.parse_args()
    print(markdown(run(quick=args.quick)))


if __name__ == "__main__":
    main()
