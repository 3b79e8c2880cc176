"""The demo's AppFlow section: a flow run that copies `contacts` to the local S3 (moto) as Parquet
plus SageMaker train/validation channels, then a write-back of scores into `predictions` — the
round trip a scheduled AppFlow flow and a batch-transform job make in AWS."""

from __future__ import annotations

import contextlib
import csv
import io

from saasbridge.local.env import temporary_env

BUCKET = "saasbridge-demo"
SCORED_CONTACTS = 25


def run(ctx) -> None:
    import boto3
    import pyarrow as pa
    import pyarrow.parquet as pq

    from saasbridge.local.flow_runner import ExtractOptions, WritebackOptions, run_extract, run_writeback

    ctx.heading("AppFlow: extract to S3 for training, write scores back")
    with temporary_env(**ctx.env()):  # boto3 and the in-process connector read their settings here
        s3 = boto3.client("s3")
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=BUCKET)
        ctx.say("saasbridge extract contacts --to s3://saasbridge-demo/appflow --for-training do_not_contact")
        extract = run_extract(
            ExtractOptions(
                "contacts", f"s3://{BUCKET}/appflow", for_training="do_not_contact", api_url=ctx.api_url,
                progress=False, flow_name="demo-contacts",
            )
        )  # fmt: skip
        ctx.say(extract.summary())
        if extract.training_manifest_uri:
            ctx.say(f"training manifest: {extract.training_manifest_uri}")

        # Stand-in for a batch-transform job: score the first contacts from the extracted Parquet.
        first = extract.files[0].removeprefix(f"s3://{BUCKET}/")
        table = pq.read_table(pa.BufferReader(s3.get_object(Bucket=BUCKET, Key=first)["Body"].read()))
        rows = table.select(["id", "lead_score"]).slice(0, SCORED_CONTACTS).to_pylist()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "entity_type", "entity_id", "model", "score", "label"])
        for row in rows:
            score = round(min(1.0, (row["lead_score"] or 0) / 100), 4)
            writer.writerow([f"pred_demo_{row['id']}", "contact", row["id"], "demo-lead-model", score,
                             "hot" if score >= 0.7 else ""])  # fmt: skip
        s3.put_object(Bucket=BUCKET, Key="scores/contacts.csv", Body=out.getvalue().encode())
        ctx.say(
            f"saasbridge writeback predictions --from s3://{BUCKET}/scores/contacts.csv --operation upsert"
        )
        back = run_writeback(
            WritebackOptions(
                "predictions", f"s3://{BUCKET}/scores/contacts.csv", operation="upsert", api_url=ctx.api_url,
                progress=False,
            )
        )  # fmt: skip
        ctx.say(back.summary())
        for failure in back.failures[:5]:
            ctx.say(f"  row {failure.row}: {failure.message}")
