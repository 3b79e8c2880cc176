"""The API's database: SQLite schema, seeding, keyset-paginated reads and the writes."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from demo_saas import data
from demo_saas.entities import ENTITIES, EntitySpec
from demo_saas.records import page_builder, row_converter, row_to_record, sql_type, to_row_value

SCHEMA_VERSION = 1


class StoreMismatch(Exception):
    """An existing database file was seeded with other settings."""


@dataclass
class ListQuery:
    """A validated list request (see `demo_saas.params`)."""

    entity: EntitySpec
    tenant: str
    limit: int = 100
    sort: str = "id"
    after: tuple | None = None  # keyset position: (id,) or (time_ms, id)
    since: int | None = None
    until: int | None = None
    ids: list[str] | None = None
    equals: dict[str, Any] = field(default_factory=dict)
    fields: tuple[str, ...] | None = None


def _columns(spec: EntitySpec) -> str:
    return ", ".join(f'"{n}"' for n in spec.field_names)


def create_tables(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for spec in ENTITIES.values():
        cols = ", ".join(f'"{f.name}" {sql_type(f)}' for f in spec.fields)
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{spec.name}" (tenant TEXT NOT NULL, {cols}, PRIMARY KEY (tenant, id))')


def create_indexes(conn: sqlite3.Connection) -> None:
    """Indexes for the time window, the time sorts and the equality filters, each filter in both
    keyset orders (id, time then id), so a page is an index seek whatever the filter and sort
    (built after seeding: faster)."""
    for spec in ENTITIES.values():
        t = spec.time_field
        conn.execute(f'CREATE INDEX IF NOT EXISTS "{spec.name}_by_{t}" ON "{spec.name}" (tenant, "{t}", id)')
        for col in spec.equality_filters:
            conn.execute(f'CREATE INDEX IF NOT EXISTS "{spec.name}_by_{col}" ON "{spec.name}" (tenant, "{col}", id)')
            conn.execute(
                f'CREATE INDEX IF NOT EXISTS "{spec.name}_by_{col}_{t}" ON "{spec.name}" (tenant, "{col}", "{t}", id)'
            )


def connect(db_path: str | os.PathLike, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{os.fspath(db_path)}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(os.fspath(db_path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def seed_database(conn: sqlite3.Connection, *, seed: int, scale: float) -> None:
    """Fill an empty database with every tenant's demo data (one transaction)."""
    create_tables(conn)
    conn.execute("PRAGMA cache_size=-200000")
    conn.execute("BEGIN")
    try:
        for tenant in data.TENANTS:
            for spec in ENTITIES.values():
                placeholders = ", ".join("?" * (len(spec.fields) + 1))
                convert = row_converter(spec)
                rows = (
                    (tenant, *convert(rec)) for rec in data.generate(spec.name, tenant=tenant, seed=seed, scale=scale)
                )
                conn.executemany(f'INSERT INTO "{spec.name}" VALUES ({placeholders})', rows)
        conn.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("seed", str(seed)), ("scale", repr(float(scale))), ("schema_version", str(SCHEMA_VERSION))],
        )
        create_indexes(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    try:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.OperationalError:
        return {}


class Store:
    """Every database operation the API performs. Thread-safe (one connection behind a lock)."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, db_path: str | os.PathLike, *, seed: int, scale: float) -> Store:
        """Open `db_path`, seeding it when new; an existing file must have been seeded alike."""
        conn = connect(db_path)
        meta = read_meta(conn)
        if not meta:
            # No journal while seeding a fresh file (a crash leaves no meta, so it is reseeded).
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            for name in ENTITIES:  # leftovers of an interrupted seeding
                conn.execute(f'DROP TABLE IF EXISTS "{name}"')
            seed_database(conn, seed=seed, scale=scale)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        elif (meta.get("seed"), float(meta.get("scale", "nan"))) != (str(seed), float(scale)):
            conn.close()
            raise StoreMismatch(
                f"{os.fspath(db_path)} was seeded with seed={meta.get('seed')} scale={meta.get('scale')}; "
                "pass the same --seed/--scale or use a new --db path"
            )
        else:
            create_indexes(conn)  # a file seeded before an index was added gets it once
        return cls(conn)

    def close(self) -> None:
        self._conn.close()

    # -- reads -------------------------------------------------------------------------------------

    def list(self, q: ListQuery) -> tuple[list[dict], tuple | None]:
        """One page of records and the keyset position after it (None when nothing follows).

        The records are for orjson: JSON columns are `orjson.Fragment`s (see `page_builder`).
        """
        spec = q.entity
        t = spec.time_field
        where, args = ["tenant = ?"], [q.tenant]
        if q.since is not None:
            where.append(f'"{t}" >= ?')
            args.append(q.since)
        if q.until is not None:
            where.append(f'"{t}" < ?')
            args.append(q.until)
        if q.ids is not None:
            where.append(f"id IN ({', '.join('?' * len(q.ids))})")
            args.extend(q.ids)
        for col, value in q.equals.items():
            where.append(f'"{col}" = ?')
            args.append(value)
        if q.sort == "id":
            order = "id"
            if q.after is not None:
                where.append("id > ?")
                args.append(q.after[0])
        elif q.sort == t:
            order = f'"{t}", id'
            if q.after is not None:
                where.append(f'("{t}", id) > (?, ?)')
                args.extend(q.after)
        else:  # -time: newest first, ties by id ascending
            order = f'"{t}" DESC, id'
            if q.after is not None:
                # the leading `<=` lets SQLite seek the time index instead of scanning from the newest row
                where.append(f'"{t}" <= ? AND ("{t}" < ? OR id > ?)')
                args.extend((q.after[0], q.after[0], q.after[1]))
        sql = f'SELECT {_columns(spec)} FROM "{spec.name}" WHERE {" AND ".join(where)} ORDER BY {order} LIMIT ?'
        with self._lock:
            rows = self._conn.execute(sql, (*args, q.limit + 1)).fetchall()
        more = len(rows) > q.limit
        rows = rows[: q.limit]
        next_key = None
        if more:
            last = rows[-1]
            id_ = last[0]
            next_key = (id_,) if q.sort == "id" else (last[spec.field_names.index(t)], id_)
        return page_builder(spec, q.fields)(rows), next_key

    def get(self, spec: EntitySpec, tenant: str, id_: str) -> dict | None:
        with self._lock:
            row = self._conn.execute(
                f'SELECT {_columns(spec)} FROM "{spec.name}" WHERE tenant = ? AND id = ?', (tenant, id_)
            ).fetchone()
        return None if row is None else row_to_record(spec, row)

    # -- writes (callers validate values first) ----------------------------------------------------

    def _next_timestamp(self, spec: EntitySpec, tenant: str) -> int:
        """Now, but strictly after every stored `updated_at` of the tenant's entity.

        A written row therefore always moves past every keyset position already handed out for
        `sort=updated_at`, so a listing in progress sees it (again) instead of skipping it.
        """
        (latest,) = self._conn.execute(
            f'SELECT MAX(updated_at) FROM "{spec.name}" WHERE tenant = ?', (tenant,)
        ).fetchone()
        now = int(time.time() * 1000)
        return now if latest is None else max(now, latest + 1)

    def patch(self, spec: EntitySpec, tenant: str, id_: str, changes: dict[str, Any]) -> dict | None:
        sets = [f'"{name}" = ?' for name in changes]
        args = [to_row_value(spec.get_field(name), v) for name, v in changes.items()]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                sets.append("updated_at = ?")
                args.append(self._next_timestamp(spec, tenant))
                cur = self._conn.execute(
                    f'UPDATE "{spec.name}" SET {", ".join(sets)} WHERE tenant = ? AND id = ?', (*args, tenant, id_)
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return self.get(spec, tenant, id_) if cur.rowcount else None

    def insert_many(self, spec: EntitySpec, tenant: str, records: Iterable[dict]) -> list[dict | str]:
        """Insert records (id optional); per record the stored record, or "duplicate_id"."""
        results: list[dict | str] = []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for rec in records:
                    rec = dict(rec)
                    if rec.get("id") is None:
                        rec["id"] = self._assign_id(spec, tenant)
                    elif self._exists(spec, tenant, rec["id"]):
                        results.append("duplicate_id")
                        continue
                    ts = self._next_timestamp(spec, tenant)
                    rec["created_at"] = rec["updated_at"] = ts
                    self._insert(spec, tenant, rec)
                    results.append(rec["id"])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return [r if r == "duplicate_id" else self.get(spec, tenant, r) for r in results]

    def upsert(self, spec: EntitySpec, tenant: str, id_: str, record: dict) -> tuple[dict, bool]:
        """Create or fully replace the record `id_`; returns (record, created)."""
        return self.upsert_many(spec, tenant, [(id_, record)])[0]

    def upsert_many(self, spec: EntitySpec, tenant: str, items: list[tuple[str, dict]]) -> list[tuple[dict, bool]]:
        """Create or fully replace each (id, record), in one transaction; per item (record, created)."""
        created: list[bool] = []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for id_, record in items:
                    ts = self._next_timestamp(spec, tenant)
                    old = self._conn.execute(
                        f'SELECT created_at FROM "{spec.name}" WHERE tenant = ? AND id = ?', (tenant, id_)
                    ).fetchone()
                    rec = {f.name: record.get(f.name) for f in spec.fields}
                    rec.update(id=id_, created_at=ts if old is None else old[0], updated_at=ts)
                    if old is not None:
                        self._conn.execute(f'DELETE FROM "{spec.name}" WHERE tenant = ? AND id = ?', (tenant, id_))
                    self._insert(spec, tenant, rec)
                    created.append(old is None)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return [(self.get(spec, tenant, id_), new) for (id_, _), new in zip(items, created, strict=True)]

    def delete(self, spec: EntitySpec, tenant: str, id_: str) -> bool:
        with self._lock:
            cur = self._conn.execute(f'DELETE FROM "{spec.name}" WHERE tenant = ? AND id = ?', (tenant, id_))
        return cur.rowcount > 0

    def _exists(self, spec: EntitySpec, tenant: str, id_: str) -> bool:
        q = f'SELECT 1 FROM "{spec.name}" WHERE tenant = ? AND id = ?'
        return self._conn.execute(q, (tenant, id_)).fetchone() is not None

    def _assign_id(self, spec: EntitySpec, tenant: str) -> str:
        key = f"next_id:{tenant}:{spec.name}"
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        n = int(row[0]) if row else 1
        while self._exists(spec, tenant, spec.make_id(n)):
            n += 1
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(n + 1)))
        return spec.make_id(n)

    def _insert(self, spec: EntitySpec, tenant: str, rec: dict) -> None:
        placeholders = ", ".join("?" * (len(spec.fields) + 1))
        row = (tenant, *(to_row_value(f, rec.get(f.name)) for f in spec.fields))
        self._conn.execute(f'INSERT INTO "{spec.name}" VALUES ({placeholders})', row)


def dump_records(db_path: str | os.PathLike, tenant: str, entity: str) -> list[dict]:
    """Every record of `entity` for `tenant`, exactly as the API serialises it, ordered by id.

    Reads the SQLite file directly (ground truth for tests; not via HTTP).
    """
    spec = ENTITIES[entity]
    conn = connect(db_path, readonly=True)
    try:
        rows = conn.execute(
            f'SELECT {_columns(spec)} FROM "{spec.name}" WHERE tenant = ? ORDER BY id', (tenant,)
        ).fetchall()
    finally:
        conn.close()
    return [row_to_record(spec, r) for r in rows]
