"""Which rows a scoring run has seen and which it has written, kept on disk (SQLite) so that memory
stays flat however many rows stream through, and so that a run interrupted after K rows resumes
from its checkpoint file without scoring those K rows again.

A row id is `seen` once per run (a second time it repeats); `done` once its prediction is written.
Opening an existing checkpoint forgets rows seen but not written (they are scored again) and
refuses a checkpoint of another run (entity, target, model, inputs)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable

from saasbridge.errors import ConfigError

NEW, REPEATED, DONE = "new", "repeated", "done"
# rows.done: 0 seen by this run, not written; written by this run; written by an earlier run (not
# met yet); written by an earlier run and met (skipped) by this one
_SEEN, _WRITTEN, _EARLIER, _SKIPPED = 0, 1, 3, 2


class Ledger:
    def __init__(self, path: str | None, run: dict[str, object]):
        """`path`: the checkpoint file (created, or resumed when it exists); None: a temporary file
        removed on close. `run` identifies the run the checkpoint belongs to."""
        self._temporary = path is None
        if path is None:
            fd, path = tempfile.mkstemp(prefix="saasbridge-predict-", suffix=".sqlite")
            os.close(fd)
        self.path = path
        self.resumed = 0  # rows of this run skipped because an earlier run wrote them
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS run (key TEXT NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, done INTEGER NOT NULL) WITHOUT ROWID")
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"--checkpoint {path}: not a checkpoint file ({exc}); remove it or name another") from None
        key = json.dumps(run, sort_keys=True)
        found = self._db.execute("SELECT key FROM run").fetchone()
        if found is None:
            self._db.execute("INSERT INTO run VALUES (?)", (key,))
        elif found[0] != key:
            raise ConfigError(f"--checkpoint {path}: belongs to another run ({found[0]}); remove it or name another file")
        self._db.execute("DELETE FROM rows WHERE done = ?", (_SEEN,))
        self._db.execute("UPDATE rows SET done = ? WHERE done <> ?", (_EARLIER, _EARLIER))
        self._db.execute("BEGIN")

    def see(self, row_id: str) -> str:
        """NEW the first time this run meets `row_id`, REPEATED after that, DONE when written before."""
        if self._db.execute("INSERT OR IGNORE INTO rows VALUES (?, ?)", (row_id, _SEEN)).rowcount:
            return NEW
        (done,) = self._db.execute("SELECT done FROM rows WHERE id = ?", (row_id,)).fetchone()
        if done == _EARLIER:
            self._db.execute("UPDATE rows SET done = ? WHERE id = ?", (_SKIPPED, row_id))
            self.resumed += 1
            return DONE
        return REPEATED

    def written(self, row_ids: Iterable[str]) -> None:
        """Mark rows written and make that durable (the checkpoint a resumed run starts from)."""
        self._db.executemany("UPDATE rows SET done = ? WHERE id = ?", ((_WRITTEN, r) for r in row_ids))
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")

    def close(self) -> None:
        self._db.execute("COMMIT")
        self._db.close()
        if self._temporary:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.path + suffix)
