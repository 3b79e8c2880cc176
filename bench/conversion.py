"""JSON → Arrow conversion benchmark on reference-shaped pages.

Cases: (a) the plain per-row Python conversion the public Python Athena SDKs do (per-row typed
values, then `RecordBatch.from_pylist`), (b) saasbridge's `RecordConverter`, (c) the
`pyarrow.json.read_json` alternative (re-serialise to NDJSON, explicit schema), (d) the floor:
orjson parsing the page body alone. rows/s and MB/s are per page of JSON body bytes.

    python -m bench.conversion [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import statistics
import tempfile
import time
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pajson

from saasbridge.arrow import RecordConverter, entity_schema
from saasbridge.catalog import load_catalog
from saasbridge.catalog.model import Entity, FieldType
from saasbridge.runtime import catalog_path

PAGE = 1000
MIN_ROWS = 20_000  # rows per timed round, so one round is not a few milliseconds


def reference_pages(entity: str, *, scale: float) -> list[bytes]:
    """API-shaped pages (the reference API's own serialisation) as JSON bodies."""
    from demo_saas.store import connect, dump_records, seed_database

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ref.sqlite")
        conn = connect(path)
        seed_database(conn, seed=42, scale=scale)
        conn.commit()
        conn.close()
        records = dump_records(path, "acme", entity)
    return [orjson.dumps({"data": records[i : i + PAGE], "next_cursor": None}) for i in range(0, len(records), PAGE)]


def _py_value(v: Any, ft: FieldType) -> Any:
    """Per-value conversion in plain Python (case a)."""
    if v is None:
        return None
    k = ft.kind
    if k == "timestamp":
        return dt.datetime.fromisoformat(v)
    if k == "date":
        return dt.date.fromisoformat(v)
    if k == "decimal":
        return Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
    if k == "list":
        return [_py_value(x, ft.item) for x in v]  # type: ignore[arg-type]
    if k == "map":
        return list(v.items())
    if k == "struct":
        return {n: _py_value(v.get(n), t) for n, t in ft.fields}
    return v


def per_row(entity: Entity, schema: pa.Schema, body: bytes) -> pa.RecordBatch:
    fields = [(f.name, f.api_name.split("."), f.type) for f in entity.fields]
    rows = []
    for r in orjson.loads(body)["data"]:
        row = {}
        for name, path, ft in fields:
            v: Any = r
            for key in path:
                v = v.get(key) if isinstance(v, dict) else None
            row[name] = _py_value(v, ft)
        rows.append(row)
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def project(conv: RecordConverter, body: bytes) -> pa.RecordBatch:
    return conv.convert(orjson.loads(body)["data"])


def read_json(entity: Entity, schema: pa.Schema, body: bytes) -> pa.Table:
    """NDJSON + explicit schema. Partial: it cannot build maps, and nested api names would need a
    struct projection afterwards, so those columns are left out (it is faster than it could be)."""
    top = pa.schema(
        [f for f in schema if "." not in entity.field(f.name).api_name and not pa.types.is_map(f.type)]
    )
    records = orjson.loads(body)["data"]
    ndjson = b"\n".join(orjson.dumps(r) for r in records)
    opts = pajson.ParseOptions(explicit_schema=top, unexpected_field_behavior="ignore")
    return pajson.read_json(io.BytesIO(ndjson), parse_options=opts)


def _time_interleaved(cases: dict[str, Any], pages: list[bytes], repeat: int) -> dict[str, tuple[float, float]]:
    """Median (CPU, wall) seconds per case over `repeat` rounds; each round runs every case once,
    in turn, so load from other processes falls on all cases alike. CPU time (all threads of this
    process) is the headline: on a shared machine wall time also counts time spent descheduled."""
    runs: dict[str, list[tuple[float, float]]] = {case: [] for case in cases}
    for _ in range(repeat):
        for case, fn in cases.items():
            cpu, wall = time.process_time(), time.perf_counter()
            for body in pages:
                fn(body)
            runs[case].append((time.process_time() - cpu, time.perf_counter() - wall))
    return {
        case: (statistics.median(c for c, _ in r), statistics.median(w for _, w in r)) for case, r in runs.items()
    }


def check_same_output(entity: Entity, schema: pa.Schema, conv: RecordConverter, pages: list[bytes]) -> None:
    """Cases a and b must build the same batches (same input, same schema, same values)."""
    for body in pages:
        expected, got = per_row(entity, schema, body), project(conv, body)
        if not got.equals(expected):
            raise SystemExit(f"{entity.name}: RecordConverter output differs from the per-row conversion")


def run(quick: bool = False) -> list[dict]:
    """One dict per (entity, case): name, entity, rows_per_s, mb_per_s, ratio (vs per-row)."""
    cat = load_catalog(catalog_path())
    scale = 0.05 if quick else 0.5
    repeat = 3 if quick else 15
    out: list[dict] = []
    for name in ("accounts", "events"):
        entity = cat.entity(name)
        schema = entity_schema(entity)
        pages = reference_pages(name, scale=scale)
        conv = RecordConverter(entity)
        check_same_output(entity, schema, conv, pages)
        rows = sum(len(orjson.loads(p)["data"]) for p in pages)
        laps = max(1, MIN_ROWS // rows)  # a small entity's pages are timed several times per round
        pages = pages * laps
        rows, nbytes = rows * laps, sum(len(p) for p in pages)
        cases = {
            "a. per-row Python + from_pylist": lambda b, e=entity, s=schema: per_row(e, s, b),
            "b. saasbridge RecordConverter": lambda b, c=conv: project(c, b),
            "c. NDJSON + pyarrow.json.read_json (partial)": lambda b, e=entity, s=schema: read_json(e, s, b),
            "d. orjson parse only (floor)": orjson.loads,
        }
        seconds = _time_interleaved(cases, pages, repeat)
        base_cpu, base_wall = seconds["a. per-row Python + from_pylist"]
        for case, (cpu, wall) in seconds.items():
            out.append({
                "name": case, "entity": name, "rows": rows,
                "rows_per_s": rows / cpu, "mb_per_s": nbytes / cpu / 1e6,
                "ratio": base_cpu / cpu, "wall_ratio": base_wall / wall,
            })
    return out


def markdown(results: list[dict]) -> str:
    lines = [
        "| entity | case | rows/s (CPU) | MB/s (CPU) | × per-row (CPU) | × per-row (wall) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['entity']} | {r['name']} | {r['rows_per_s']:,.0f} | {r['mb_per_s']:.1f} | {r['ratio']:.2f}"
            f" | {r['wall_ratio']:.2f} |"
        )
    return "\n".join(lines)


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, pyarrow {pa.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small pages and few repeats")
    args = parser.parse_args()
    print(markdown(run(quick=args.quick)))
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main()
