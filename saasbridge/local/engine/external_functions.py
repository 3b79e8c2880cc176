"""Athena ML: `USING EXTERNAL FUNCTION name(arg type, …) RETURNS type SAGEMAKER 'endpoint' SELECT …`.

The prefix is parsed here (sqlglot has no grammar for it; it is a short fixed form), the SELECT
runs as usual, and each function is registered in DuckDB as a vectorised (Arrow) function that
sends its argument rows to the endpoint with InvokeEndpoint as Athena does: CSV without header, one
line per row, batches under the 6 MB request limit, one value per line in the answer (a VARCHAR one
CSV-quoted when needed). A function may have any name, `predict` included: its calls are renamed
for the parse and for DuckDB (`analysis.external_name`)."""

from __future__ import annotations

import csv
import inspect
import io
import re
from dataclasses import dataclass
from typing import Any

from saasbridge.errors import QueryError
from saasbridge.local.engine.analysis import external_name

_HEAD = re.compile(r"^\s*USING\s+", re.I)
_FUNCTION = re.compile(
    r"\s*EXTERNAL\s+FUNCTION\s+(?P<name>[A-Za-z_]\w*)\s*\((?P<params>[^)]*)\)\s*RETURNS\s+(?P<returns>\w+)"
    r"\s+SAGEMAKER\s+'(?P<endpoint>[^']+)'\s*(?P<comma>,)?",
    re.I,
)
# Athena types an external function takes and returns → DuckDB types.
DUCKDB_TYPES = {
    "boolean": "BOOLEAN", "tinyint": "TINYINT", "smallint": "SMALLINT", "integer": "INTEGER", "int": "INTEGER",
    "bigint": "BIGINT", "real": "FLOAT", "float": "FLOAT", "double": "DOUBLE", "varchar": "VARCHAR",
    "string": "VARCHAR",
}  # fmt: skip


@dataclass(frozen=True)
class ExternalFunction:
    name: str
    params: tuple[tuple[str, str], ...]  # (variable, Athena type)
    returns: str
    endpoint: str


def split_using(sql: str) -> tuple[list[ExternalFunction], str]:
    """(functions, the SELECT) for a statement with a USING EXTERNAL FUNCTION prefix; ([], sql) otherwise."""
    head = _HEAD.match(sql)
    if not head:
        return [], sql
    functions: list[ExternalFunction] = []
    pos = head.end()
    while True:
        m = _FUNCTION.match(sql, pos)
        if not m:
            raise QueryError(
                "expected USING EXTERNAL FUNCTION name(arg type, …) RETURNS type SAGEMAKER 'endpoint' SELECT …"
            )
        functions.append(_function(m))
        pos = m.end()
        if not m["comma"]:
            break
    rest = sql[pos:]
    if not re.match(r"\s*(SELECT|WITH)\b", rest, re.I):
        raise QueryError("a USING EXTERNAL FUNCTION clause must be followed by a SELECT")
    return functions, rest.strip()


def _function(m: re.Match) -> ExternalFunction:
    params = []
    for part in filter(None, (p.strip() for p in m["params"].split(","))):
        pieces = part.split()
        if len(pieces) != 2 or pieces[1].lower() not in DUCKDB_TYPES:
            raise QueryError(f"external function {m['name']}: parameter {part!r} is not `name type`")
        params.append((pieces[0], pieces[1].lower()))
    returns = m["returns"].lower()
    if returns not in DUCKDB_TYPES:
        raise QueryError(f"external function {m['name']}: unsupported return type {m['returns']}")
    return ExternalFunction(m["name"].lower(), tuple(params), returns, m["endpoint"])


class EndpointCaller:
    """Calls one endpoint for DuckDB: a column batch of arguments in, one value per row out."""

    def __init__(self, function: ExternalFunction, client: Any):
        self.function = function
        self._client = client
        self.requests = 0

    def __call__(self, *columns: Any) -> Any:
        import pyarrow as pa

        from saasbridge.sagemaker.inference.payload import Batch, batches, encode_row, parse_predictions

        names = [f"a{i}" for i in range(len(columns))]
        rows = pa.table(dict(zip(names, columns, strict=True))).to_pylist()
        values: list[Any] = [None] * len(rows)
        text = self.function.returns in ("varchar", "string")
        for batch in batches((i, encode_row(row, names)) for i, row in enumerate(rows)):
            if not isinstance(batch, Batch):
                raise QueryError(f"external function {self.function.name}: {batch[1]}")
            answer = self._invoke(batch.body)
            if text:  # one CSV field per line: a text with commas, quotes or newlines comes quoted
                got = [cells[0] if cells else "" for cells in csv.reader(io.StringIO(answer.decode()))]
                if len(got) != len(batch.rows):
                    raise QueryError(f"external function {self.function.name}: {len(got)} values for {len(batch.rows)} rows")
            else:
                got = [p.score for p in parse_predictions(answer, "text/csv", len(batch.rows))]
            for index, value in zip(batch.rows, got, strict=True):
                values[index] = value
        if text:
            return pa.array(values, pa.string())
        return pa.array(values, pa.float64()).cast(_arrow_type(DUCKDB_TYPES[self.function.returns]), safe=False)

    def _invoke(self, body: bytes) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        from saasbridge.errors import aws_error_line

        self.requests += 1
        try:
            answer = self._client.invoke_endpoint(
                EndpointName=self.function.endpoint, Body=body, ContentType="text/csv", Accept="text/csv"
            )
        except ClientError as exc:
            raise QueryError(
                f"external function {self.function.name}: endpoint {self.function.endpoint!r}: {aws_error_line(exc)}"
            ) from None
        except BotoCoreError as exc:
            raise QueryError(f"external function {self.function.name}: {exc}") from None
        return answer["Body"].read()


def _arrow_type(duckdb_type: str) -> Any:
    import pyarrow as pa

    return {"BOOLEAN": pa.bool_(), "TINYINT": pa.int8(), "SMALLINT": pa.int16(), "INTEGER": pa.int32(),
            "BIGINT": pa.int64(), "FLOAT": pa.float32(), "DOUBLE": pa.float64()}[duckdb_type]  # fmt: skip


def register(con: Any, functions: list[ExternalFunction], client: Any) -> list[EndpointCaller]:
    """Register each function on a DuckDB connection; returns the callers (they count requests)."""
    callers = []
    for function in functions:
        caller = EndpointCaller(function, client)

        def udf(*columns: Any, _caller: EndpointCaller = caller) -> Any:
            return _caller(*columns)

        # DuckDB reads the arity from the signature.
        udf.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY) for name, _ in function.params]
        )
        con.create_function(
            external_name(function.name), udf, [DUCKDB_TYPES[t] for _, t in function.params], DUCKDB_TYPES[function.returns],
            type="arrow", null_handling="special", side_effects=True,
        )  # fmt: skip
        callers.append(caller)
    return callers


def runtime_client() -> Any:
    """sagemaker-runtime with botocore's retries on throttling (AWS_ENDPOINT_URL reaches a stand-in)."""
    import boto3

    from saasbridge.sagemaker.inference import endpoint

    return endpoint.runtime_client(boto3.Session(), concurrency=1)
