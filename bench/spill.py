"""Spill: MB/s of writing Athena blocks to the S3 stand-in (moto server) with AES-GCM encryption vs
without, and the peak memory of a one-split ReadRecords whose result is ≥ 10 blocks.

The memory run is a fresh child process (`--child-scan`) so its peaks are its own: the Arrow
memory pool's peak and the process's max RSS, against the block size and the scan's total size.

    python -m bench.spill [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import uuid

import pyarrow as pa

from bench.support import (
    SPILL_BUCKET,
    Stopwatch,
    connector_environment,
    create_bucket,
    figure,
    markdown_table,
    s3_client,
    truth_records,
)
from saasbridge.runtime import catalog_path

ENTITY = "events"
BLOCKS_IN_SCAN = 16  # block size = scan / 16; a block holds whole API pages, so ≥ 10 blocks result


def athena_block(db_path: str, rows: int | None = None) -> pa.RecordBatch:
    """The entity's rows as one Athena-typed block, converted the connector's way."""
    from athena_connector.types import to_athena_batch
    from saasbridge.arrow import RecordConverter
    from saasbridge.catalog import load_catalog

    records = truth_records(db_path, ENTITY)[:rows]
    return to_athena_batch(RecordConverter(load_catalog(catalog_path()).entity(ENTITY)).convert(records))


def upload_rate(moto_url: str, block: pa.RecordBatch, *, encrypted: bool, count: int) -> tuple[float, int]:
    """(seconds, bytes) to spill `count` copies of `block` with the connector's BlockSpiller."""
    from athena_connector.protocol import EncryptionKey, SpillLocation
    from athena_connector.spill import BlockSpiller

    key = EncryptionKey(os.urandom(32), os.urandom(12)) if encrypted else None
    spiller = BlockSpiller(s3_client(moto_url), SpillLocation(SPILL_BUCKET, f"bench/{uuid.uuid4()}", True), key)
    spiller.write(block)  # connection set-up outside the timing
    spiller.bytes_written = 0
    with Stopwatch() as watch:
        for _ in range(count):
            spiller.write(block)
    return watch.seconds, spiller.bytes_written


def encrypt_rate(block: pa.RecordBatch, count: int) -> float:
    """MB/s of IPC framing + AES-GCM alone (what spilling adds before the upload)."""
    from athena_connector.protocol import EncryptionKey, ipc
    from athena_connector.spill import encrypt

    key = EncryptionKey(os.urandom(32), os.urandom(12))
    done = 0
    with Stopwatch() as watch:
        for _ in range(count):
            done += len(encrypt(ipc.batch_bytes(block, legacy=True), key))
    return done / watch.seconds / 1e6


def scan_in_child(api_url: str, moto_url: str, block_size: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.spill", "--child-scan", api_url, moto_url, str(block_size)],
        capture_output=True, text=True, check=False, cwd=os.fspath(_root()),
    )
    if out.returncode != 0:
        raise RuntimeError(f"the spill memory child failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _root() -> os.PathLike:
    from bench.support import REPO

    return REPO


def child_scan(api_url: str, moto_url: str, block_size: int) -> None:
    """One forced-spill ReadRecords of the whole entity; prints rows, blocks and memory peaks."""
    with connector_environment(api_url, moto_url, None, SAASBRIDGE_ATHENA_MAX_SPLITS="1"):
        from athena_connector import protocol
        from saasbridge.drivers.athena import UNOBSERVED, AthenaDriver, TableScan
        from saasbridge.drivers.lambda_invoker import InProcessInvoker

        pool = pa.default_memory_pool()
        base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        driver = AthenaDriver(InProcessInvoker("athena"), max_block_size=block_size, max_inline_block_size=1,
                              s3_endpoint_url=moto_url)  # fmt: skip
        s = driver.session(UNOBSERVED)
        schema, partition_columns = driver.get_table(s, "crm", ENTITY, UNOBSERVED)
        scan = TableScan("crm", ENTITY, schema, partition_columns, protocol.build_constraints({}))
        _, splits = driver.layout_and_splits(s, scan, UNOBSERVED)
        before = pool.bytes_allocated()
        resp = driver.read_records(s, scan, schema, splits[0], UNOBSERVED)
        peak = pool.max_memory() - before
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        blocks = resp.get("remoteBlocks") or []
        rows = sum(b.num_rows for b in driver.blocks(resp, UNOBSERVED))
    print(json.dumps({"rows": rows, "blocks": len(blocks), "arrow_peak": peak, "max_rss": rss,
                      "rss_before_scan": base_rss}))


def run(quick: bool = False) -> list[dict]:
    from saasbridge.local.processes import start_moto_server, start_reference_api

    scale = 0.3 if quick else 0.5
    out: list[dict] = []
    with start_moto_server() as moto, start_reference_api(scale=scale, rate_limit=1000) as api:
        create_bucket(moto.url)
        db = os.fspath(api.db_path)
        # upload rate: a 4 MB-ish block (the 16 MB default block in full mode), several times
        full = athena_block(db)
        size = (4 if quick else 16) * 1_000_000
        unit = pa.Table.from_batches([full] * (size // full.nbytes + 1)).combine_chunks().to_batches()[0]
        unit = unit.slice(0, unit.num_rows * size // unit.nbytes)
        unit = pa.Table.from_batches([unit]).combine_chunks().to_batches()[0]
        count = 3 if quick else 6
        plain_s, plain_b = upload_rate(moto.url, unit, encrypted=False, count=count)
        enc_s, enc_b = upload_rate(moto.url, unit, encrypted=True, count=count)
        plain, enc = plain_b / plain_s / 1e6, enc_b / enc_s / 1e6
        crypt = encrypt_rate(unit, count)
        out.append(figure(f"Spill: AES-GCM encryption alone ({unit.nbytes / 1e6:.0f} MB blocks)", round(crypt, 1),
                          "MB/s", bound=round(plain, 1), bound_label="unencrypted upload to the stand-in",
                          ratio=crypt / plain, target="≥ 2× (not the bottleneck)", passed=crypt >= 2 * plain))
        out.append(figure(f"Spill: AES-GCM encrypt + upload to the S3 stand-in ({unit.nbytes / 1e6:.0f} MB blocks)",
                          round(enc, 1), "MB/s", bound=round(plain, 1), bound_label="unencrypted upload",
                          ratio=enc / plain, target="≥ 0.8 × unencrypted", passed=enc >= 0.8 * plain,
                          blocks=count, encrypted_seconds=enc_s, plain_seconds=plain_s))
        # memory: a scan of ≥ 10 blocks
        total = full.nbytes
        block_size = max(64 * 1024, total // BLOCKS_IN_SCAN)
        found = scan_in_child(api.url, moto.url, block_size)
        ok_rows = found["rows"] == full.num_rows
        out.append(figure(
            f"Spill: peak Arrow memory of a one-split scan of {found['blocks']} blocks "
            f"({total / 1e6:.1f} MB of Arrow, {block_size / 1e6:.2f} MB blocks)",
            round(found["arrow_peak"] / 1e6, 2), "MB", bound=round(block_size / 1e6, 2), bound_label="one block",
            ratio=found["arrow_peak"] / block_size, target="≤ 4 blocks, ≥ 10 blocks scanned, all rows",
            passed=found["arrow_peak"] <= 4 * block_size and found["blocks"] >= 10 and ok_rows,
            scan_bytes=total, expected_rows=full.num_rows, **found,
        ))
        out.append(figure(
            "Spill: max RSS of that child process (Python, boto3 and pyarrow included)",
            round(found["max_rss"] / 1e6, 1), "MB", bound=round(total / 1e6, 1), bound_label="whole scan in Arrow",
            target="(informational)",
        ))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller blocks and scan")
    parser.add_argument("--child-scan", nargs=3, metavar=("API_URL", "MOTO_URL", "BLOCK_BYTES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_scan:
        api_url, moto_url, block = args.child_scan
        child_scan(api_url, moto_url, int(block))
        return
    print(markdown_table(run(quick=args.quick)))


if __name__ == "__main__":
    main()
