"""A progress display for long runs: rich on a terminal (local only), nothing otherwise."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """`update(records=…)` while a run goes on; `close()` at the end. Silent when disabled."""

    def __init__(self, description: str, *, enabled: bool | None = None, total: int | None = None):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self._bar: Any = None
        if not enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress
        except ImportError:
            return
        self._bar = RichProgress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            TextColumn("{task.completed} records"), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self._bar.start()
        self._task = self._bar.add_task(description, total=total)

    def update(self, *, records: int, note: str | None = None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=records, **({"description": note} if note else {}))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
