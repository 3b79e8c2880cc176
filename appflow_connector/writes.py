"""WriteData: INSERT / UPDATE / UPSERT / DELETE through SaasClient.write, one result per record."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import orjson
from custom_connector_sdk.lambda_handler import requests as rq
from custom_connector_sdk.lambda_handler import responses as r

from appflow_connector import session
from appflow_connector.errors import ConnectorError, error_details
from saasbridge.catalog.model import Entity
from saasbridge.catalog.templates import set_path
from saasbridge.errors import SaasBridgeError

# A batch of records is sent in requests of at most this much JSON (as a Lambda answer: 6 MB).
REQUEST_BUDGET_BYTES = int(os.environ.get("SAASBRIDGE_APPFLOW_REQUEST_BYTES", str(5 * 1024 * 1024)))


def to_api_record(entity: Entity, record: dict) -> dict:
    """AppFlow field names (columns) → the API's keys; unknown fields are an error."""
    out: dict = {}
    for key, value in record.items():
        if not entity.has_field(key):
            raise ValueError(f"{key}: not a field of {entity.name}")
        set_path(out, entity.field(key).api_name, value)
    return out


def _result_parts(result: Any) -> tuple[bool, str | None, str | None]:
    """(ok, record id, error) from a client WriteResult (tolerant of its exact attribute names)."""
    if isinstance(result, dict):
        get = result.get
    else:

        def get(name, default=None):
            return getattr(result, name, default)

    ok = get("ok", get("success", get("is_success")))
    error = get("error", get("error_message", get("message")))
    if ok is None:
        ok = error is None
    rid = get("id", get("record_id"))
    return bool(ok), (None if rid is None else str(rid)), (None if error is None else str(error))


def _batches(prepared: list[tuple[int, dict]], count: int, max_bytes: int) -> Iterator[tuple[int, list]]:
    """(start, records) of consecutive API requests: at most `count` records and `max_bytes` of
    JSON each (a record larger than that alone goes alone)."""
    start, part, size = 0, [], 2
    for n, item in enumerate(prepared):
        item_bytes = len(orjson.dumps(item[1])) + 1
        if part and (len(part) == count or size + item_bytes > max_bytes):
            yield start, part
            start, part, size = n, [], 2
        part.append(item)
        size += item_bytes
    if part:
        yield start, part


def write_data(request: rq.WriteDataRequest) -> r.WriteDataResponse:
    ctx = request.connector_context
    cat = session.catalog_for(ctx.connector_runtime_settings if ctx else None)
    entity = session.resolve_entity(cat, request.entity_identifier)
    op = (request.operation.name if request.operation else "INSERT").lower()
    if entity.write_operation(op) is None:
        supported = ", ".join(w.op.upper() for w in entity.writes) or "none (read-only entity)"
        raise ConnectorError(
            r.ErrorCode.InvalidArgument,
            f"{entity.name} does not support {op.upper()}; supported: {supported}",
        )
    id_field = (request.id_field_names or [entity.primary_key])[0] if op != "insert" else entity.primary_key
    raw = request.records or []
    results: list[r.WriteRecordResult | None] = [None] * len(raw)
    prepared: list[tuple[int, dict]] = []
    for i, text in enumerate(raw):
        try:
            record = orjson.loads(text)
            if not isinstance(record, dict):
                raise ValueError("a record must be a JSON object")
            if op in ("update", "delete", "upsert") and op != "upsert" and record.get(id_field) in (None, ""):
                raise ValueError(f"{id_field}: required for {op.upper()}")
            prepared.append((i, to_api_record(entity, record)))
        except (ValueError, orjson.JSONDecodeError) as exc:
            results[i] = r.WriteRecordResult(False, None, str(exc)[:500])
    all_or_none = bool(request.all_or_none)
    if all_or_none and any(res is not None for res in results):
        for i, res in enumerate(results):
            if res is None:
                results[i] = r.WriteRecordResult(
                    False, None, "not written: allOrNone and another record is invalid"
                )
        return _response(results, raw, id_field)
    client = session.client_for(cat, ctx.credentials.secret_arn if ctx and ctx.credentials else None)
    op_def = entity.write_operation(op)
    stopped = False
    for start, part in _batches(prepared, max(1, op_def.batch_size), REQUEST_BUDGET_BYTES):
        if stopped:
            for i, _ in part:
                results[i] = r.WriteRecordResult(
                    False, None, "not written: allOrNone and an earlier record failed"
                )
            continue
        try:
            outcome = client.write(entity, op, [rec for _, rec in part])
        except SaasBridgeError as exc:
            details = error_details(exc)
            if details.error_code is r.ErrorCode.RateLimitExceeded and start == 0:
                return r.WriteDataResponse(False, details)  # nothing written yet: let AppFlow retry the batch
            outcome = [{"ok": False, "error": details.error_message}] * len(part)
        for (i, rec), res in zip(part, outcome, strict=False):
            ok, rid, err = _result_parts(res)
            if rid is None and ok and entity.primary_key:
                rid = rec.get(entity.field(entity.primary_key).api_name)
            results[i] = r.WriteRecordResult(
                ok, None if rid is None else str(rid), None if ok else (err or "failed")
            )
            if not ok and all_or_none:
                stopped = True
        for i, _ in part[len(outcome) :]:
            results[i] = r.WriteRecordResult(False, None, "the API returned no result for this record")
            stopped = stopped or all_or_none
    return _response(results, raw, id_field)


def _input_id(text: str, id_field: str) -> str:
    """The id a record carries itself, or '' when it has none."""
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ""
    value = record.get(id_field) if isinstance(record, dict) else None
    return "" if value is None else str(value)


def _response(results: list, raw: list[str], id_field: str) -> r.WriteDataResponse:
    # AppFlow's Java model requires a recordId in every result, a failed one too
    results = [res if res.record_id is not None else
               r.WriteRecordResult(res.is_success, _input_id(raw[i], id_field), res.error_message)
               for i, res in enumerate(results)]
    failed = sum(1 for res in results if not res.is_success)
    if failed:
        details = r.ErrorDetails(
            r.ErrorCode.PartialWriteFailure, f"{failed} of {len(results)} records failed"
        )
        return r.WriteDataResponse(False, details, results)
    return r.WriteDataResponse(True, None, results)
