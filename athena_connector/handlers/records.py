"""ReadRecords: constraints → IR → core reader → Athena types → an inline block, or blocks
spilled to S3 as they fill (memory stays around one block whatever the split size)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from athena_connector.errors import SpillError, UnsupportedPredicateError, ValueTooLargeError
from athena_connector.handlers.context import Invocation
from athena_connector.protocol import OrderByField, ipc, read_records_response, remote_read_records_response
from athena_connector.protocol.spilled import GCM_TAG_BYTES
from athena_connector.spill import BlockSpiller
from athena_connector.types import athena_schema, to_athena_batch
from saasbridge.query.ir import Const, OrderBy, Query
from saasbridge.query.reader import read
from saasbridge.query.splits import SplitWindow

LAMBDA_PAYLOAD_LIMIT = 6_291_456  # bytes of a synchronous Lambda response
ATHENA_MAX_BLOCK_BYTES = 16_000_000  # Athena refuses larger blocks ("exceeded max block size")
_JSON_SLACK = 4096  # the runtime's own JSON framing, on top of the envelope measured here


def inline_fits(message_bytes: int, max_inline: int, envelope_bytes: int) -> bool:
    """Whether a block of this many Arrow bytes may go inline: under maxInlineBlockSize and, once
    base64 (4 characters per 3 bytes) inside a JSON envelope of `envelope_bytes`, under Lambda's
    6 MB response limit."""
    base64_chars = 4 * -(-message_bytes // 3)
    return message_bytes < max_inline and envelope_bytes + base64_chars + _JSON_SLACK <= LAMBDA_PAYLOAD_LIMIT


@dataclass
class BlockWriter:
    """Collects result rows into blocks cut by encoded bytes: a block is spilled to S3 as soon as
    the next row would take it past `block_limit` (each spilled object at most that many bytes,
    encryption tag included); what is left at the end goes inline when it fits."""

    inv: Invocation
    schema: pa.Schema
    block_limit: int
    max_inline: int
    table: str = ""
    spiller: BlockSpiller | None = None
    pending: list[pa.RecordBatch] = field(default_factory=list)
    pending_bytes: int = 0  # encoded bytes of the pending pieces (each counted with its own metadata)
    rows_seen: int = 0

    def add(self, batch: pa.RecordBatch, ids: pa.Array | None = None) -> None:
        """Add rows; `ids` are their primary keys (to name a row too large for any block)."""
        self.inv.counters.rows_returned += batch.num_rows
        budget = self.block_limit - GCM_TAG_BYTES
        while batch.num_rows:
            take = ipc.rows_within(batch, budget - self.pending_bytes)
            if take == 0 and not self.pending:
                raise self._too_large(batch.slice(0, 1), None if ids is None else ids[0])
            if take:
                piece = batch.slice(0, take)
                self.pending.append(piece)
                self.pending_bytes += ipc.encoded_size(piece)
                self.rows_seen += take
                batch, ids = batch.slice(take), None if ids is None else ids.slice(take)
            if batch.num_rows:  # the next row does not fit: this block is as large as it may be
                self._spill(self._take())

    def _too_large(self, row: pa.RecordBatch, row_id: pa.Scalar | None) -> ValueTooLargeError:
        sizes = {name: ipc.encoded_size(row.select([name])) for name in row.schema.names}
        column = max(sizes, key=sizes.__getitem__)
        which = f"id {row_id.as_py()!r}" if row_id is not None and row_id.is_valid else f"number {self.rows_seen + 1}"
        return ValueTooLargeError(
            f"table {self.table}: the {column} value of row {which} takes {sizes[column]:,} bytes, more than the "
            f"largest block Athena accepts ({self.block_limit:,} bytes); leave {column} out of the query or "
            "filter that row out")

    def _take(self) -> pa.RecordBatch:
        batches, self.pending, self.pending_bytes = self.pending, [], 0
        if not batches:
            return ipc.empty_batch(self.schema)
        if self.schema.names:
            return pa.Table.from_batches(batches, schema=self.schema).combine_chunks().to_batches()[0]
        return pa.table({"_": pa.nulls(sum(b.num_rows for b in batches))}).select([]).to_batches()[0]

    def _spill(self, block: pa.RecordBatch) -> None:
        if self.spiller is None:
            split = self.inv.request.split
            if split is None or split.spill_location is None:
                raise SpillError("the result is too large to return inline and the split has no spill location; "
                                 "set the Lambda's spill_bucket environment variable")
            self.spiller = BlockSpiller(self.inv.s3(), split.spill_location, split.encryption_key,
                                        dict(self.inv.settings.spill_put_request_headers))
        message = ipc.batch_bytes(block, legacy=True)
        if self.spiller.object_size(message) > self.block_limit and block.num_rows > 1:
            # the pieces' sizes summed were a hair short of the joined block's: halve it
            half = block.num_rows // 2
            self._spill(block.slice(0, half))
            self._spill(block.slice(half))
            return
        self.spiller.write_message(message)
        self.inv.counters.spilled_blocks += 1
        self.inv.counters.bytes_returned += block.nbytes

    def finish(self) -> dict:
        r = self.inv.request
        block = self._take()
        if self.spiller is None:
            records = ipc.block_bytes(block, legacy=r.legacy_arrow)  # encoded once: measured, then sent
            response = read_records_response(r.catalog_name or "", block, legacy=r.legacy_arrow, records=b"")
            if inline_fits(len(records), self.max_inline, len(json.dumps(response))):
                self.inv.counters.bytes_returned += block.nbytes
                response["records"]["records"] = ipc.b64encode(records) if records else ""
                return response
        if block.num_rows or self.spiller is None:
            self._spill(block)
        assert self.spiller is not None
        split = r.split
        return remote_read_records_response(r.catalog_name or "", self.schema, self.spiller.locations,
                                            split.encryption_key if split else None, legacy=r.legacy_arrow)


def read_records(inv: Invocation) -> dict:
    r = inv.request
    constraints = r.constraints
    entity, pt_where = inv.entity_for(r.table_name, constraints.passthrough if constraints else None)  # type: ignore[arg-type]
    columns = [f.name.lower() for f in r.schema]  # type: ignore[union-attr]
    unknown = [c for c in columns if not entity.has_field(c)]
    if unknown:
        raise UnsupportedPredicateError(f"requested column(s) {', '.join(unknown)} are not in {entity.name}; "
                                        f"columns: {', '.join(entity.column_names)}")
    out_schema = athena_schema(entity, columns)
    where = inv.where(entity, pt_where)
    limit = constraints.limit if constraints is not None and constraints.has_limit else None
    order = list(constraints.order_by) if constraints is not None and limit is not None else []
    writer = BlockWriter(inv, out_schema, min(ATHENA_MAX_BLOCK_BYTES, max(1, r.max_block_size or ATHENA_MAX_BLOCK_BYTES)),
                         r.max_inline_block_size or 3_465_000, entity.name)
    # the primary key is read along (when rows have columns) to name a row too large for any block
    key = entity.primary_key if columns and entity.primary_key else None
    read_columns = tuple(dict.fromkeys([*columns, *([key] if key else [])]))
    if where != Const(False) and limit != 0:
        window = SplitWindow.from_properties(r.split.properties if r.split else {})
        if order:
            top = _top_n(inv, entity.name, read_columns, where, window, order, limit)  # type: ignore[arg-type]
            writer.add(top.select(columns), top.column(key) if key else None)  # no columns: keeps the row count
        else:
            query = Query(entity.name, read_columns, where, limit)
            reader = read(inv.client(), inv.catalog, query, deadline=inv.deadline, extra=window.expr(),
                          extra_residual=window.residual_expr(), in_flight=inv.settings.pages_in_flight)
            try:
                for page in reader:
                    writer.add(to_athena_batch(page.batch.select(columns)), page.batch.column(key) if key else None)
            finally:
                _count_nulled(inv, reader)
    return writer.finish()


def _count_nulled(inv: Invocation, reader) -> None:
    """Values of the wrong type the converter turned into null (schema drift) → ValuesNulled metric."""
    inv.counters.values_nulled += reader.converter.warnings


def _top_n(inv: Invocation, entity: str, columns: tuple[str, ...], where, window: SplitWindow,
           order: list[OrderByField], limit: int) -> pa.RecordBatch:
    """The first `limit` rows in `order` (`columns` and the sort keys, Athena types), keeping at
    most `limit` rows (plus one page) in memory."""
    keys = [o.column.lower() for o in order]
    read_columns = tuple(dict.fromkeys([*columns, *keys]))
    query = Query(entity, read_columns, where, limit,
                  tuple(OrderBy(o.column.lower(), o.descending, o.nulls_first) for o in order))
    best: pa.Table | None = None
    reader = read(inv.client(), inv.catalog, query, deadline=inv.deadline, extra=window.expr(),
                  extra_residual=window.residual_expr())
    try:
        for page in reader:
            table = pa.Table.from_batches([to_athena_batch(page.batch)])
            best = table if best is None else pa.concat_tables([best, table])
            best = _sorted(best, order).slice(0, limit)
    finally:
        _count_nulled(inv, reader)
    if best is None or best.num_rows == 0:
        return ipc.empty_batch(athena_schema(inv.catalog.entity(entity), read_columns))
    return best.combine_chunks().to_batches()[0]


def _sorted(table: pa.Table, order: list[OrderByField]) -> pa.Table:
    """Sort with each key's own null placement (pyarrow has one for all keys, so nullness is
    sorted as a key of its own just before the value)."""
    arrays: dict[str, pa.ChunkedArray] = {}
    sort_keys: list[tuple[str, str]] = []
    for i, o in enumerate(order):
        col = table.column(o.column.lower())
        arrays[f"n{i}"] = pc.is_null(col)
        arrays[f"v{i}"] = col
        sort_keys += [(f"n{i}", "descending" if o.nulls_first else "ascending"),
                      (f"v{i}", "descending" if o.descending else "ascending")]
    try:
        indices = pc.sort_indices(pa.table(arrays), sort_keys=sort_keys)
    except pa.ArrowNotImplementedError:
        raise UnsupportedPredicateError(f"ORDER BY on {[o.column for o in order]} is not supported for "
                                        "these column types") from None
    return table.take(indices)
