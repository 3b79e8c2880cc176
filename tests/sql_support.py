"""Helpers for the SQL engine tests: the connector behind a Lambda invoke endpoint in its own
process, a counting proxy in front of the reference API (server-side request counts), and the
ground truth: the reference API's database dumped straight into DuckDB."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow as pa
import urllib3

DEMO_KEY = "demo-acme-key"
TENANT = "acme"
SPILL_BUCKET = "saasbridge-test-spill"


class CountingProxy:
    """A loopback HTTP proxy that forwards to `target` and records every request it forwards."""

    def __init__(self, target: str):
        self.target = target.rstrip("/")
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        pool = urllib3.PoolManager(maxsize=16)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.requests.append((self.command, self.path))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                resp = pool.request(
                    self.command, proxy.target + self.path, body=body, headers=headers, retries=False, redirect=False
                )
                self.send_response(resp.status)
                for key, value in resp.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(resp.data)))
                self.end_headers()
                self.wfile.write(resp.data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def api_requests(self) -> list[str]:
        """Paths of the data requests (`/v1/…`) forwarded so far."""
        with self._lock:
            return [path for _, path in self.requests if path.startswith("/v1/")]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class EndpointProcess:
    """`saasbridge lambda serve --port 0` in a subprocess with its own environment."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "saasbridge", "lambda", "serve", "--port", "0", "--quiet"],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        if "endpoint on " not in line:
            self.stop()
            raise RuntimeError(f"lambda serve did not start: {line}")
        self.url = line.split("endpoint on ", 1)[1].split()[0]
        # Keep draining stderr so the child never blocks on a full pipe.
        threading.Thread(target=self.process.stderr.read, daemon=True).start()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def connector_env(api_url: str, moto_url: str) -> dict[str, str]:
    return {
        "SAASBRIDGE_API_URL": api_url,
        "SAASBRIDGE_API_KEY": DEMO_KEY,
        "spill_bucket": SPILL_BUCKET,
        "spill_prefix": "athena-spill",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def create_bucket(moto_url: str) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=SPILL_BUCKET)


# ---------------------------------------------------------------- ground truth

_SCALAR = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("ms"),
}


def _arrow(ft: Any) -> pa.DataType:
    """Athena's column types, written out independently of saasbridge.arrow."""
    if ft.kind in _SCALAR:
        return _SCALAR[ft.kind]
    if ft.kind == "decimal":
        return pa.decimal128(ft.precision, ft.scale)
    if ft.kind == "list":
        return pa.list_(_arrow(ft.item))
    if ft.kind == "map":
        return pa.map_(pa.string(), _arrow(ft.item))
    if ft.kind == "struct":
        return pa.struct([(n, _arrow(t)) for n, t in ft.fields])
    raise AssertionError(ft.kind)


def _value(ft: Any, v: Any) -> Any:
    if v is None:
        return None
    if ft.kind == "timestamp":
        return dt.datetime.fromisoformat(v.replace("Z", "+00:00")).replace(tzinfo=None)
    if ft.kind == "date":
        return dt.date.fromisoformat(v)
    if ft.kind == "decimal":
        return decimal.Decimal(str(v))
    if ft.kind == "map":
        return list(v.items())
    if ft.kind == "struct":
        return {n: _value(t, v.get(n)) for n, t in ft.fields}
    if ft.kind == "list":
        return [_value(ft.item, x) for x in v]
    return v


def _get(record: dict, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(record, dict):
            return None
        record = record.get(part)  # type: ignore[assignment]
    return record


def truth_database(db_path: str, tenant: str = TENANT) -> Any:
    """DuckDB with schema `crm` holding every entity, dumped straight from the API's database."""
    import duckdb

    from demo_saas.store import dump_records
    from saasbridge.catalog import load_catalog
    from saasbridge.runtime import catalog_path

    catalog = load_catalog(catalog_path())
    con = duckdb.connect()
    con.execute(f"CREATE SCHEMA {catalog.name}")
    for entity in catalog.entities:
        records = dump_records(db_path, tenant, entity.name)
        schema = pa.schema([(f.name, _arrow(f.type)) for f in entity.fields])
        columns = {
            f.name: pa.array([_value(f.type, _get(r, f.api_name)) for r in records], type=_arrow(f.type))
            for f in entity.fields
        }
        con.register("dump", pa.table(columns, schema=schema))
        con.execute(f"CREATE TABLE {catalog.name}.{entity.name} AS SELECT * FROM dump")
        con.unregister("dump")
    return con


def rows(table: pa.Table) -> list[tuple]:
    return [tuple(_norm(v) for v in r.values()) for r in table.to_pylist()]


def _norm(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 9)
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(v, list):
        return tuple(_norm(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _norm(x)) for k, x in v.items()))
    return v


def sort_key(row: tuple) -> tuple:
    return tuple((v is None, str(v)) for v in row)
