"""`make conformance`: the published AWS SDKs (Java, under Maven) judge every message the connectors send.

Starts the reference API, the moto server and three `saasbridge lambda serve` processes (spill
encrypted with local keys, with KMS data keys, and not encrypted), writes the ground truth the Java
driver compares with (the reference API's rows, read from its database) and the AppFlow cases, runs
`mvn test` in conformance/, and stops everything. Run from the repository root:

    python -m conformance.launch [--write-fixtures] [extra maven arguments]

With --write-fixtures the SDKs also write back the fixtures they judge (the Athena wire messages with
the SDK's serde, the AppFlow requests with the SDK's model) and those replace tests/fixtures/ files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import yaml

from conformance import appflow_cases, fat_rows
from conformance.cases import APPFLOW_FIXTURES, ATHENA_FIXTURES, FIXTURES, api_value
from demo_saas.data import row_count
from demo_saas.entities import ENTITIES
from demo_saas.store import dump_records
from saasbridge.catalog import load_catalog
from saasbridge.catalog.model import FieldType
from saasbridge.local import processes
from saasbridge.runtime import catalog_path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "conformance"
WORK = PROJECT / "target" / "conformance-run"
TENANT, API_KEY, SCALE = "acme", "demo-acme-key", 0.02
SPILL_BUCKET = "saasbridge-conformance-spill"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_REGION": "us-east-1"}
SPILL_MODES = ("localKey", "kms", "plain")  # how each lambda process encrypts what it spills


def maven_command(*goals: str) -> list[str]:
    """`mvn` in batch mode, quiet, in conformance/."""
    return ["mvn", "-B", "-q", "-f", str(PROJECT / "pom.xml"), *goals]


# ---------------------------------------------------------------- ground truth


def _value(ft: FieldType, v: Any) -> Any:
    """A reference-API value as the JSON the Java driver builds from an Arrow value of that type."""
    if v is None:
        return None
    kind = ft.kind
    if kind == "timestamp":
        t = dt.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.UTC)
        return (t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)
    if kind == "date":
        return str(v)[:10]
    if kind == "decimal":
        return str(Decimal(str(v)).quantize(Decimal(1).scaleb(-(ft.scale or 0))))
    if kind == "double":
        return float(v)
    if kind == "list":
        return [_value(ft.item, x) for x in v]
    if kind == "map":
        return {str(key): _value(ft.item, x) for key, x in (v.items() if isinstance(v, dict) else v)}
    if kind == "struct":
        return {name: _value(t, v.get(name)) for name, t in ft.fields}
    return v


# the reference data's writable tables start empty: one row per table, written through the API, at the
# edges of each type (before-1970 instants, int64 above 2^31, empty and non-ASCII text), and one of nulls
_EDGE = {"string": "Ωmega 東京 🚀", "integer": 2**31 + 5, "number": 0.125, "boolean": True, "date": "1969-12-31",
         "datetime": "1969-07-20T20:17:40.123Z", "string_list": ["", "ß"], "number_list": [0.0, -2.5, 1e300],
         "string_map": {"ключ": "", "k": "v"}}
MIN_TESTS = 208  # the SDK judges run at least this many tests; fewer means a test factory shrank


def seed_empty_tables(api_url: str) -> None:
    """Rows in every table the suite reads: the empty (writable) ones get theirs through the API's POST."""
    for spec in ENTITIES.values():
        if row_count(spec.name, SCALE):
            continue
        fields = [f for f in spec.fields if f.name not in spec.system_fields]
        full = {f.name: f.enum[0] if f.enum else _EDGE[f.kind] for f in fields}
        sparse = {f.name: full[f.name] for f in fields if not f.nullable}
        sparse.update({name: full[name] for name in spec.one_required_on_create[:1]})  # the least it takes
        blank = next((f.name for f in fields if f.kind == "string" and f.nullable and not f.enum), None)
        if blank:
            full[blank] = ""
        body = json.dumps({"data": [full, sparse]}).encode()
        request = urllib.request.Request(f"{api_url}/v1/{spec.name}", body, method="POST", headers={
            "Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            errors = json.load(answer)["errors"]
        if errors:
            raise RuntimeError(f"conformance: the reference API refused the {spec.name} seed rows: {errors}")


def catalog_types(catalog: Path) -> dict[str, dict[str, str]]:
    """{entity: {column: type text}} as the catalog file writes them (for the Java Arrow-type table)."""
    doc = yaml.safe_load(catalog.read_text())
    return {e["name"]: {f["name"]: str(f["type"]) for f in e["fields"]} for e in doc["entities"]}


def write_ground_truth(db_path: Path, out: Path) -> None:
    """One file per table: the reference API's rows as {column: value}."""
    out.mkdir(parents=True, exist_ok=True)
    for entity in load_catalog(catalog_path()).entities:
        rows = [{f.name: _value(f.type, api_value(r, f.api_name)) for f in entity.fields}
                for r in dump_records(db_path, TENANT, entity.name)]
        (out / f"{entity.name}.json").write_text(json.dumps(rows))


# ---------------------------------------------------------------- servers


def grouped_catalog(out: Path) -> Path:
    """The demo catalog with `predictions` under the group `ml`, so ListEntities has a level to nest."""
    text = (ROOT / "demo_saas" / "catalog.yaml").read_text()
    doc = yaml.safe_load(text)
    for entity in doc["entities"]:
        if entity["name"] == "predictions":
            entity["group"] = "ml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def prepare_aws(moto_url: str) -> tuple[str, str, str]:
    """The spill bucket, a KMS key for spill data keys and the AppFlow secrets (one with a wrong key);
    (key id, secret ARN, wrong secret ARN)."""
    kw = {"endpoint_url": moto_url, "region_name": "us-east-1", "aws_access_key_id": "testing",
          "aws_secret_access_key": "testing"}
    boto3.client("s3", **kw).create_bucket(Bucket=SPILL_BUCKET)
    key_id = boto3.client("kms", **kw).create_key(Description="saasbridge conformance spill")["KeyMetadata"]["KeyId"]
    secrets = boto3.client("secretsmanager", **kw)
    arns = [secrets.create_secret(Name=f"appflow!123456789012-saasbridge-conformance-{i}",
                                  SecretString=json.dumps({"apiKey": key, "accessToken": key}))["ARN"]
            for i, key in enumerate((API_KEY, "not-the-key-000"))]
    return key_id, arns[0], arns[1]


def surefire_counts(reports: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) over the Surefire XML reports."""
    tests = failed = skipped = 0
    for report in reports.glob("TEST-*.xml"):
        suite = ET.parse(report).getroot()
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def check_in_written(written: Path) -> int:
    """Replace the repo's fixtures with what the SDKs wrote back (Athena as the SDK's pretty printer
    wrote it, AppFlow reformatted like the other AppFlow fixtures); the number of files changed."""
    changed = 0
    for file in sorted(written.rglob("*.json")):
        rel = file.relative_to(written)
        target = FIXTURES / rel
        text = file.read_text() if rel.parts[0] == "athena" else json.dumps(json.loads(file.read_text()), indent=2,
                                                                             ensure_ascii=False) + "\n"
        if target.read_text().rstrip("\n") != text.rstrip("\n"):  # upstream files differ in a final newline
            target.write_text(text)
            changed += 1
    return changed


def run(maven_args: list[str], write_fixtures: bool = False) -> int:
    if shutil.which("java") is None or shutil.which("mvn") is None:
        print("conformance: java and mvn must be on the PATH (Java 17, Maven 3.8)", file=sys.stderr)
        return 2
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.rmtree(PROJECT / "target" / "surefire-reports", ignore_errors=True)
    WORK.mkdir(parents=True)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        api = stack.enter_context(processes.start_reference_api(scale=SCALE, seed=42, rate_limit=1000))
        moto = stack.enter_context(processes.start_moto_server())
        kms_key, secret_arn, bad_secret_arn = prepare_aws(moto.url)
        assert api.db_path is not None
        seed_empty_tables(api.url)
        write_ground_truth(api.db_path, WORK / "expected")
        appflow_cases.write(WORK / "appflow", api.url, secret_arn, bad_secret_arn, api.db_path)
        catalog = grouped_catalog(WORK / "catalog.yaml")
        (WORK / "catalog-types.json").write_text(json.dumps(catalog_types(catalog)))
        base = {**AWS, "AWS_ENDPOINT_URL": moto.url, "SAASBRIDGE_API_URL": api.url, "SAASBRIDGE_API_KEY": API_KEY,
                "SAASBRIDGE_CATALOG": str(catalog),
                "spill_bucket": SPILL_BUCKET, "spill_prefix": "conformance",
                "SAASBRIDGE_ATHENA_MIN_PAGES_PER_SPLIT": "1", "SAASBRIDGE_ATHENA_SPLITS_PER_PAGE": "2"}
        extra = {"localKey": {}, "kms": {"kms_key_id": kms_key}, "plain": {"disable_spill_encryption": "true"}}
        lambdas = {mode: stack.enter_context(processes.start_lambda_serve({**base, **extra[mode]})).url for mode in SPILL_MODES}
        lambdas["fatRows"] = fat_rows.start(stack, base, WORK)
        env_file = WORK / "env.json"
        env_file.write_text(json.dumps({
            "lambdaEndpoints": lambdas, "s3Endpoint": moto.url, "spillBucket": SPILL_BUCKET,
            "expectedDir": str(WORK / "expected"), "fatExpectedDir": str(WORK / "expected-fat"),
            "appflowDir": str(WORK / "appflow"),
            "catalogTypes": str(WORK / "catalog-types.json"),
            "writtenFixtures": str(WORK / "sdk-fixtures") if write_fixtures else None,
            "athenaFixtures": str(ATHENA_FIXTURES),
            "appflowFixtures": str(APPFLOW_FIXTURES),
        }, indent=1))
        print(f"conformance: servers ready in {time.monotonic() - started:.1f} s; running the SDK judges", flush=True)
        code = subprocess.call(maven_command(f"-Dconformance.env={env_file}", "test", *maven_args),
                               env={**os.environ, **AWS})
    reports = PROJECT / "target" / "surefire-reports"
    passed, failed, skipped = surefire_counts(reports)
    print(f"conformance ({time.monotonic() - started:.0f} s, Surefire reports in {reports.relative_to(ROOT)}):")
    print(f"conformance: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    ran = passed + failed + skipped
    if code == 0 and not maven_args and ran < MIN_TESTS:
        print(f"conformance: only {ran} tests ran, at least {MIN_TESTS} expected; a test factory lost its cases "
              "(or raise MIN_TESTS in conformance/launch.py if tests were removed on purpose)", file=sys.stderr)
        return 1
    if write_fixtures and code == 0:  # only a run the checks accepted rewrites the fixtures
        changed = check_in_written(WORK / "sdk-fixtures")
        print(f"conformance: the SDKs rewrote {changed} fixture file(s) under {FIXTURES.relative_to(ROOT)}")
    return code


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(run([a for a in args if a != "--write-fixtures"], write_fixtures="--write-fixtures" in args))
