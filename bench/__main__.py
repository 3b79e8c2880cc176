"""Run the benchmark suite and print one markdown table.

    python -m bench [--quick] [--only NAME ...] [--json FILE] [--update-readme]

Writes every figure (with its details) to bench/results/latest.json; `--update-readme` rewrites
the README's performance section between `<!-- bench:start -->` and `<!-- bench:end -->`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench import MODULES
from bench.support import figure, markdown_table

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "bench" / "results" / "latest.json"
README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


# ---------------------------------------------------------------- rows from each module


def conversion_rows(results: list[dict]) -> list[dict]:
    """bench.conversion reports cases per entity; the table wants the two ratios with targets."""
    out = []
    for entity in dict.fromkeys(r["entity"] for r in results):
        cases = {r["name"][:2]: r for r in results if r["entity"] == entity}
        ours, plain, floor = cases.get("b."), cases.get("a."), cases.get("d.")
        if not (ours and plain and floor):
            continue
        vs_plain = ours["rows_per_s"] / plain["rows_per_s"]
        vs_floor = ours["rows_per_s"] / floor["rows_per_s"]
        out.append(figure(f"JSON → Arrow, {entity} ({ours['rows']:,} rows): RecordConverter vs per-row Python",
                          round(ours["rows_per_s"]), "rows/s", bound=round(plain["rows_per_s"]),
                          bound_label="per-row Python", ratio=vs_plain, target="≥ 2×", passed=vs_plain >= 2,
                          mb_per_s=ours["mb_per_s"]))
        out.append(figure(f"JSON → Arrow, {entity}: RecordConverter vs orjson parse-only floor",
                          round(ours["rows_per_s"]), "rows/s", bound=round(floor["rows_per_s"]),
                          bound_label="parse only", ratio=vs_floor, target="≥ 0.5×", passed=vs_floor >= 0.5))
    return out


def cold_start_rows(results: list[dict]) -> list[dict]:
    """bench.cold_start reports import times per handler and bytecode variant, and the package size."""
    out = [figure(f"Cold start: import of {r['handler']} ({r['bytecode']}, median of {r['runs']})",
                  r["import_ms"], "ms", bound=r["interpreter_ms"], bound_label="bare interpreter start",
                  target="(informational)", process_ms=r.get("process_ms"), heaviest=r.get("heaviest"))
           for r in results]
    if results:
        size = results[0]["package_unzipped_mb"]
        out.append(figure(f"Lambda package size, unzipped ({results[0]['package_zipped_mb']} MB zipped)", size,
                          "MB", bound=250, bound_label="Lambda limit", ratio=size / 250, target="< 250 MB",
                          passed=size < 250))
    return out


def generic_rows(name: str, results: list[dict]) -> list[dict]:
    """Rows already in the table's shape pass through; anything else is shown as name = value."""
    out = []
    for r in results:
        if "figure" in r:
            out.append(r)
            continue
        label = " ".join(str(r[k]) for k in ("name", "entity", "case") if k in r) or name
        number = next(((k, v) for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)),
                      ("", None))
        out.append(figure(f"{name}: {label}", number[1], number[0], **{k: v for k, v in r.items()
                                                                       if k not in ("figure",)}))
    return out


ADAPTERS = {"conversion": conversion_rows, "cold_start": cold_start_rows}


def run_module(name: str, quick: bool) -> tuple[list[dict], dict]:
    """(table rows, run record) for one module; a failure becomes a failed row, not an abort."""
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"bench.{name}",):
            return [], {"module": name, "status": "missing"}
        raise
    try:
        results = module.run(quick=quick)
    except Exception as exc:  # report and go on with the other benchmarks
        traceback.print_exc()
        first = (str(exc).splitlines() or [""])[0][:200]
        row = figure(f"{name}: did not run ({type(exc).__name__}: {first})", None, passed=False)
        return [row], {"module": name, "status": "error", "error": f"{type(exc).__name__}: {first}"}
    rows = ADAPTERS.get(name, lambda r: generic_rows(name, r))(results)
    for row in rows:
        row.setdefault("module", name)
    return rows, {"module": name, "status": "ok", "seconds": round(time.perf_counter() - started, 1),
                  "raw": results}


# ---------------------------------------------------------------- output


def machine() -> dict[str, str]:
    import pyarrow

    model = ""
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        found = re.search(r"(?m)^Model name:\s*(.+)$", out)
        model = found.group(1).strip() if found else ""
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "pyarrow": pyarrow.__version__,
        "os": f"{platform.system()} {platform.release()}",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def machine_line(m: dict[str, str]) -> str:
    return (f"{m['cpu']}, {m['cores']} cores (`nproc`), {m['os']}, Python {m['python']}, "
            f"pyarrow {m['pyarrow']}; run {m['date']}")


def readme_section(rows: list[dict], m: dict[str, str], quick: bool, command: str) -> str:
    failed = [r["figure"] for r in rows if r.get("pass") is False]
    lines = [
        START,
        f"Measured in one run on one machine: {machine_line(m)}"
        + (" (quick sizes)" if quick else "") + ". Reproduce with:",
        "",
        "```sh",
        command,
        "```",
        "",
        "Each figure comes with its bound or baseline from the same run (API bounds: page size × "
        "min(rate limit + burst/run time, concurrent cursors / latency)). Details per figure in "
        "`bench/results/latest.json`.",
        "",
        markdown_table(rows),
        "",
        f"{len(rows) - len(failed)} of {len(rows)} figures meet their target"
        + ("; the others are marked **FAIL**." if failed else "."),
        END,
    ]
    return "\n".join(lines)


def update_readme(section: str, path: Path = README) -> None:
    """Replace the text between the markers; without markers, the body of `## Performance`."""
    text = path.read_text()
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        match = re.search(r"(?m)^## Performance[ \t]*$", text)
        if match is None:
            text = text.rstrip() + "\n\n## Performance\n\n" + section + "\n"
        else:
            following = re.search(r"(?m)^## ", text[match.end():])
            end = match.end() + following.start() if following else len(text)
            text = text[: match.end()] + "\n\n" + section + "\n" + ("\n" + text[end:] if following else "")
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes in all")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=MODULES, help="run only these modules")
    parser.add_argument("--json", metavar="FILE", help="also write the results to FILE")
    parser.add_argument("--update-readme", action="store_true", help="rewrite the README's performance section")
    args = parser.parse_args(argv)

    names = [n for n in MODULES if not args.only or n in args.only]
    rows: list[dict] = []
    runs: list[dict] = []
    for name in names:
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        module_rows, record = run_module(name, args.quick)
        if record["status"] == "missing":
            print(f"bench: {name}: module not written yet, skipped", file=sys.stderr)
        rows += module_rows
        runs.append(record)
    m = machine()
    print(markdown_table(rows))
    print(f"\nmachine: {machine_line(m)}")
    document = {"machine": m, "quick": args.quick, "figures": rows, "runs": runs}
    payload = json.dumps(document, indent=2, default=str, ensure_ascii=False)
    LATEST.parent.mkdir(parents=True, exist_ok=True)
    LATEST.write_text(payload + "\n")
    if args.json:
        Path(args.json).write_text(payload + "\n")
    if args.update_readme:
        command = "make bench-quick" if args.quick else "make bench"
        if args.only:
            command = f"python -m bench {'--quick ' if args.quick else ''}--only {' '.join(args.only)}"
        update_readme(readme_section(rows, m, args.quick, command))
    return 1 if any(r["status"] == "error" for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
