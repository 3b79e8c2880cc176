"""GetSplits: time windows from the planner, each with its own spill directory and key.

A query with a LIMIT gets exactly one split, so the limit the reader enforces is the query's
limit (per-split limits over several splits would return up to N rows per split).
The continuation token carries the offset and the clock reading the windows were cut with, so
every page of one GetSplits conversation cuts the same windows (no gap, no overlap). How many
windows a scan is worth comes from the catalog's split hint (`rows_per_day`, `window_days`) and
`SAASBRIDGE_ATHENA_MIN_PAGES_PER_SPLIT` (default 5), all fixed for the conversation.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid

from athena_connector.errors import ProtocolError, SpillError
from athena_connector.handlers.context import Invocation
from athena_connector.protocol import EncryptionKey, SpillLocation, Split, get_splits_response
from saasbridge.catalog.model import Catalog, Entity
from saasbridge.errors import aws_error_code
from saasbridge.query.ir import Const, Expr, Query
from saasbridge.query.planner import plan
from saasbridge.query.splits import SplitWindow, plan_splits


def _token(offset: int, now: dt.datetime) -> str:
    return f"{offset}@{now.isoformat()}"


def _parse_token(token: str | None) -> tuple[int, dt.datetime | None]:
    if not token:
        return 0, None
    try:
        offset, _, now = token.partition("@")
        return int(offset), dt.datetime.fromisoformat(now)
    except ValueError:
        raise ProtocolError(f"GetSplits continuationToken {token!r} was not issued by this connector") from None


def spill_directory(inv: Invocation) -> SpillLocation | None:
    """`s3://bucket/prefix/queryId/uuid`, bucket and prefix from identity configOptions or env."""
    opts = inv.request.identity.config_options
    bucket = opts.get("spill_bucket") or inv.settings.spill_bucket
    if not bucket:
        return None
    prefix = (opts.get("spill_prefix") or inv.settings.spill_prefix).strip("/")
    query_id = inv.request.query_id or "no-query-id"
    parts = [p for p in (prefix, None if query_id in prefix else query_id, str(uuid.uuid4())) if p]
    return SpillLocation(bucket, "/".join(parts), directory=True)


def encryption_key(inv: Invocation) -> EncryptionKey | None:
    if inv.settings.disable_spill_encryption:
        return None
    if inv.settings.kms_key_id:
        kms = inv.kms()
        try:
            key = kms.generate_data_key(KeyId=inv.settings.kms_key_id, KeySpec="AES_128")["Plaintext"]
            nonce = kms.generate_random(NumberOfBytes=12)["Plaintext"]
        except Exception as exc:  # botocore error; report its code only
            code = aws_error_code(exc)
            raise SpillError(f"KMS key {inv.settings.kms_key_id!r} cannot make a data key ({code}); check "
                             "kms_key_id and the role's kms:GenerateDataKey permission") from None
        return EncryptionKey(key, nonce)
    return EncryptionKey(os.urandom(32), os.urandom(12))


def worth_splitting(catalog: Catalog, entity: Entity, where: Expr | None) -> bool:
    """Only a broad list scan gains from splits. A lookup by id or a selective filter costs a
    request or two, and every extra split would repeat those requests once more."""
    if entity.split is None:
        return False
    p = plan(catalog, Query(entity.name, where=where))
    if p.mode != "list":
        return False
    split_params = {f.param for f in entity.field(entity.split.field).filters}
    return all(name in split_params for name in p.params)


def get_splits(inv: Invocation) -> dict:
    r = inv.request
    constraints = r.constraints
    entity, pt_where = inv.entity_for(r.table_name, constraints.passthrough if constraints else None)  # type: ignore[arg-type]
    where = inv.where(entity, pt_where)
    if not r.continuation_token:  # a new scan; the splits already handed out are read to the end
        inv.client().admit_scan()
    offset, now = _parse_token(r.continuation_token)
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    if where == Const(False) or (r.partitions is not None and r.partitions.num_rows == 0):
        windows: list[SplitWindow] = []
    elif (constraints is not None and constraints.has_limit) or not worth_splitting(inv.catalog, entity, where):
        windows = [SplitWindow()]
    else:
        windows = plan_splits(inv.catalog, Query(entity.name, where=where), max_splits=inv.settings.max_splits,
                              now=now, min_pages_per_split=inv.settings.min_pages_per_split)
    page = windows[offset: offset + inv.settings.splits_per_page]
    splits = [Split(spill_directory(inv), encryption_key(inv), w.to_properties()) for w in page]
    end = offset + len(page)
    token = _token(end, now) if end < len(windows) else None
    return get_splits_response(r.catalog_name or "", splits, token)
