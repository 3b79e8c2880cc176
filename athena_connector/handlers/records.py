"""ReadRecords: constraints → IR → core reader → Athena types → an inline block, or blocks
spilled to S3 as they fill (memory stays around one block whatever the split size)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from athena_connector.errors import SpillError, UnsupportedPredicateError
from athena_connector.handlers.context import Invocation
from athena_connector.protocol import OrderByField, read_records_response, remote_read_records_response
from athena_connector.protocol.ipc import block_bytes, empty_batch
from athena_connector.spill import BlockSpiller
from athena_connector.types import athena_schema, to_athena_batch
from saasbridge.query.ir import Const, OrderBy, Query
from saasbridge.query.reader import read
from saasbridge.query.splits import SplitWindow

LAMBDA_PAYLOAD_LIMIT = 6_291_456
_JSON_OVERHEAD = 64 * 1024  # envelope, schema string, block keys


def inline_fits(serialized_size: int, max_inline: int) -> bool:
    """Whether a block of this many Arrow bytes may go inline: under maxInlineBlockSize and,
    once base64 (× 4/3) inside the JSON, under Lambda's 6 MB response limit."""
    return serialized_size < max_inline and serialized_size * 4 // 3 + 4 + _JSON_OVERHEAD < LAMBDA_PAYLOAD_LIMIT


@dataclass
class BlockWriter:
    """Collects result batches; spills a block to S3 whenever `max_block_size` bytes are pending."""

    inv: Invocation
    schema: pa.Schema
    max_block_size: int
    max_inline: int
    spiller: BlockSpiller | None = None
    pending: list[pa.RecordBatch] | None = None
    pending_bytes: int = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self.pending = self.pending or []
        self.pending.append(batch)
        self.pending_bytes += batch.nbytes
        self.inv.counters.rows_returned += batch.num_rows
        if self.pending_bytes >= self.max_block_size:
            self._spill(self._take())

    def _take(self) -> pa.RecordBatch:
        batches, self.pending, self.pending_bytes = self.pending or [], None, 0
        if not batches:
            return empty_batch(self.schema)
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
        self.spiller.write(block)
        self.inv.counters.spilled_blocks += 1
        self.inv.counters.bytes_returned += block.nbytes

    def finish(self) -> dict:
        r = self.inv.request
        block = self._take()
        if self.spiller is None:
            records = block_bytes(block, legacy=r.legacy_arrow)  # encoded once: measured, then sent
            if inline_fits(len(records), self.max_inline):
                self.inv.counters.bytes_returned += block.nbytes
                return read_records_response(r.catalog_name or "", block, legacy=r.legacy_arrow, records=records)
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
    writer = BlockWriter(inv, out_schema, max(1, r.max_block_size or 16_000_000),
                         r.max_inline_block_size or 3_465_000)
    if where != Const(False) and limit != 0:
        window = SplitWindow.from_properties(r.split.properties if r.split else {})
        if order:
            writer.add(_top_n(inv, entity.name, columns, where, window, order, limit))  # type: ignore[arg-type]
        else:
            query = Query(entity.name, tuple(columns), where, limit)
            reader = read(inv.client(), inv.catalog, query, deadline=inv.deadline, extra=window.expr(),
                          extra_residual=window.residual_expr())
            try:
                for page in reader:
                    writer.add(to_athena_batch(page.batch))
            finally:
                _count_nulled(inv, reader)
    return writer.finish()


def _count_nulled(inv: Invocation, reader) -> None:
    """Values of the wrong type the converter turned into null (schema drift) → ValuesNulled metric."""
    inv.counters.values_nulled += reader.converter.warnings


def _top_n(inv: Invocation, entity: str, columns: list[str], where, window: SplitWindow,
           order: list[OrderByField], limit: int) -> pa.RecordBatch:
    """The first `limit` rows in `order`, keeping at most `limit` rows (plus one page) in memory."""
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
        return empty_batch(athena_schema(inv.catalog.entity(entity), columns))
    return best.select(columns).combine_chunks().to_batches()[0] if columns else \
        pa.table({"_": pa.nulls(best.num_rows)}).select([]).to_batches()[0]


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
