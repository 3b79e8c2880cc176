"""Run as a subprocess by test_athena_memory: a forced-spill full scan of one entity through
lambda_handler, printing JSON with the row count and the process's memory peaks."""

from __future__ import annotations

import json
import resource
import sys
import tracemalloc

import boto3
import pyarrow as pa


def main(entity: str, block_size: int) -> None:
    from athena_connector import protocol as p
    from athena_connector.handler import lambda_handler
    from tests.athena_driver import Context

    boto3.client("s3").create_bucket(Bucket="athena-memory")
    tracemalloc.start()
    pool = pa.default_memory_pool()
    schema = p.decode_schema(lambda_handler(p.build_get_table_request("saas", "crm", entity), Context())["schema"])
    cons = p.build_constraints({})
    parts = pa.RecordBatch.from_pydict({"partitionId": pa.array([1], pa.int32())})
    splits = lambda_handler(p.build_get_splits_request("saas", "crm", entity, partitions=parts, partition_columns=[],
                                                       constraints=cons), Context())["splits"]
    rows = blocks = arrow_bytes = 0
    for split in splits:
        resp = lambda_handler(p.build_read_records_request(
            "saas", "crm", entity, schema=schema, split=split, constraints=cons, max_block_size=block_size,
            max_inline_block_size=1), Context())
        if resp["@type"] == "ReadRecordsResponse":
            rows += p.decode_block(resp["records"]).num_rows
            continue
        blocks += len(resp["remoteBlocks"])
        sizes = [o["Size"] for o in boto3.client("s3").list_objects_v2(
            Bucket="athena-memory", Prefix=split["spillLocation"]["key"] + ".")["Contents"]]
        arrow_bytes += sum(sizes)
        rows += sum(b.num_rows for b in p.read_spilled_blocks(boto3.client("s3"), resp, schema))
    _, py_peak = tracemalloc.get_traced_memory()
    print(json.dumps({"rows": rows, "splits": len(splits), "blocks": blocks, "spilled_bytes": arrow_bytes,
                      "arrow_peak": pool.max_memory(), "python_peak": py_peak,
                      "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
