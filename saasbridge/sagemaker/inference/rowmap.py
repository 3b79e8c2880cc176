"""Which input object of a batch transform holds which row, kept on disk (SQLite, a temporary
file) so that memory stays flat however many rows a job scores: each row id with its object and row
number, and whether the job's output had a line for it yet."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator

# rows.found: the job's output has no line for the row yet; it had one (a later one is ignored)
_WAITING, _FOUND = 0, 1


class RowMap:
    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="saasbridge-transform-", suffix=".sqlite")
        os.close(fd)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")  # a scratch file: nothing to recover after a crash
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE rows (id TEXT PRIMARY KEY, part INTEGER NOT NULL, number INTEGER NOT NULL, "
                         "found INTEGER NOT NULL) WITHOUT ROWID")  # fmt: skip
        self._db.execute("CREATE INDEX rows_by_part ON rows (part, found, number)")

    def add(self, part: int, rows: Iterable[tuple[int, str]]) -> None:
        """The rows (number, id) written to input object `part`."""
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?)", ((rid, part, n, _WAITING) for n, rid in rows))
        self._db.execute("COMMIT")

    def take(self, row_id: str) -> int | None:
        """The row number of `row_id` the first time an output line names it; None for an id the
        job was not given or one already taken (a repeated line)."""
        found = self._db.execute("UPDATE rows SET found = ? WHERE id = ? AND found = ? RETURNING number",
                                 (_FOUND, row_id, _WAITING)).fetchone()  # fmt: skip
        return None if found is None else found[0]

    def waiting(self, part: int) -> Iterator[tuple[int, str]]:
        """The rows (number, id) of input object `part` no output line has named, in row order."""
        query = "SELECT number, id FROM rows WHERE part = ? AND found = ? ORDER BY number"
        yield from self._db.execute(query, (part, _WAITING))

    def close(self) -> None:
        self._db.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
