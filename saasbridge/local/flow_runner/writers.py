"""Output files of a flow run, one small class per format, rotated every `rows_per_file` rows.

- parquet: typed from DescribeEntity (see typing_.py).
- csv: a header row, then one line per record; strings as-is, booleans `true`/`false`, numbers
  with the digits the connector sent, null as an empty field, nested values as compact JSON.
- jsonl: the records exactly as the connector returned them, one per line (AppFlow's JSON output).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from saasbridge.local.flow_runner.destination import Destination
from saasbridge.local.flow_runner.typing_ import Column, TableBuilder

FORMATS = ("parquet", "csv", "jsonl")


class FormatWriter:
    """Writes pages of records to one open file."""

    def __init__(self, path: Path, columns: list[Column]):
        self.path, self.columns = path, columns

    def write(self, texts: list[str], records: list[dict]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class JsonLinesWriter(FormatWriter):
    def __init__(self, path: Path, columns: list[Column]):
        super().__init__(path, columns)
        self._file = path.open("w", encoding="utf-8")

    def write(self, texts: list[str], records: list[dict]) -> None:
        for text in texts:
            self._file.write(text)
            self._file.write("\n")

    def close(self) -> None:
        self._file.close()


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


class CsvWriter(FormatWriter):
    def __init__(self, path: Path, columns: list[Column]):
        super().__init__(path, columns)
        self._file = path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file, lineterminator="\n")
        self._csv.writerow([c.name for c in columns])

    def write(self, texts: list[str], records: list[dict]) -> None:
        names = [c.name for c in self.columns]
        self._csv.writerows([csv_cell(rec.get(n)) for n in names] for rec in records)

    def close(self) -> None:
        self._file.close()


class ParquetWriter(FormatWriter):
    def __init__(self, path: Path, columns: list[Column]):
        import pyarrow.parquet as pq

        super().__init__(path, columns)
        self._builder = TableBuilder(columns)
        self._writer = pq.ParquetWriter(str(path), self._builder.schema)

    def write(self, texts: list[str], records: list[dict]) -> None:
        self._writer.write_table(self._builder.table(records))

    def close(self) -> None:
        self._writer.close()


_WRITERS = {"parquet": ParquetWriter, "csv": CsvWriter, "jsonl": JsonLinesWriter}


class RotatingSink:
    """Files `<dir>/part-00000.<ext>`, … under a destination; a new file every `rows_per_file` rows."""

    def __init__(
        self, destination: Destination, directory: str, fmt: str, columns: list[Column], rows_per_file: int
    ):
        self.destination, self.directory, self.fmt = destination, directory.rstrip("/"), fmt
        self.columns, self.rows_per_file = columns, max(1, rows_per_file)
        self.files: list[str] = []  # published URIs
        self.bytes = 0
        self._writer: FormatWriter | None = None
        self._rel: str | None = None
        self._rows_in_file = 0

    def write(self, texts: list[str], records: list[dict]) -> None:
        start = 0
        while start < len(records):
            if self._writer is None:
                self._open()
            room = self.rows_per_file - self._rows_in_file
            part = slice(start, start + room)
            assert self._writer is not None
            self._writer.write(texts[part], records[part])
            taken = len(records[part])
            self._rows_in_file += taken
            start += taken
            if self._rows_in_file >= self.rows_per_file:
                self._finish()

    def _open(self) -> None:
        self._rel = f"{self.directory}/part-{len(self.files):05d}.{self.fmt}"
        path = self.destination.staging(self._rel)
        self._writer = _WRITERS[self.fmt](path, self.columns)
        self._rows_in_file = 0

    def _finish(self) -> None:
        if self._writer is None or self._rel is None:
            return
        self._writer.close()
        self.bytes += self.destination.publish(self._rel)
        self.files.append(self.destination.uri(self._rel))
        self._writer, self._rel = None, None

    def close(self, *, write_empty: bool = True) -> None:
        """Publish the open file; an empty run still gets one (empty) file, as a typed marker."""
        if self._writer is None and not self.files and write_empty:
            self._open()
        self._finish()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
