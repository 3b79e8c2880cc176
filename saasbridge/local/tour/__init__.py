"""`saasbridge demo`: a tour in sections. Each section is a module here with `run(ctx: TourContext)`;
`run_sections` runs those that exist, in `SECTION_ORDER`."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECTION_ORDER = ("api", "sql", "appflow")
SECTION_ORDER += ("inference",)  # train, deploy to the SageMaker stand-in, predict, query


@dataclass
class TourContext:
    """What a section needs: where the local servers are, and how to print."""

    api_url: str
    api_key: str
    s3_url: str
    db_path: Path | None = None
    tenant: str = "acme"
    _console: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self._console is None:
            try:
                from rich.console import Console

                self._console = Console(highlight=False)
            except ImportError:  # plain text without rich
                self._console = False

    def env(self) -> dict[str, str]:
        """Environment variables that point saasbridge (and boto3) at the local servers."""
        return {
            "SAASBRIDGE_API_URL": self.api_url,
            "SAASBRIDGE_API_KEY": self.api_key,
            "AWS_ENDPOINT_URL": self.s3_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def heading(self, text: str) -> None:
        if self._console:
            self._console.rule(f"[bold]{text}")
        else:
            print(f"\n== {text} ==")

    def say(self, text: str = "") -> None:
        if self._console:
            self._console.print(text, markup=False)
        else:
            print(text)

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
        rows = [["" if v is None else str(v) for v in row] for row in rows]
        if self._console:
            from rich.table import Table

            table = Table(*columns, title=title)
            for row in rows:
                table.add_row(*row)
            self._console.print(table)
            return
        widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
        if title:
            print(title)
        for line in [list(columns), ["-" * w for w in widths], *rows]:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def available_sections(order: Sequence[str] = SECTION_ORDER) -> list[str]:
    names = []
    for name in order:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue  # that part of the tour is not built
            raise
        names.append(name)
    return names


def run_sections(ctx: TourContext, order: Sequence[str] = SECTION_ORDER) -> list[str]:
    """Run every available section in order; returns the names run."""
    names = available_sections(order)
    for name in names:
        importlib.import_module(f"{__name__}.{name}").run(ctx)
    return names
