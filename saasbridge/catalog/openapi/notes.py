"""The draft's comments: what was guessed, beside the key it is about, and suggestions left
commented out before a key. The draft stays a plain mapping that `catalog_from_dict` reads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Noted(dict):
    """A mapping of the draft with `notes` (key → why it was guessed) and `before` (key → comment
    lines placed above it, e.g. a commented-out suggestion)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.notes: dict[str, str] = {}
        self.before: dict[str, list[str]] = {}

    def note(self, key: str, text: str) -> None:
        """Say beside `key` what was guessed (several notes on one key are joined)."""
        self.notes[key] = f"{self.notes[key]}; {text}" if key in self.notes else text

    def comment_before(self, key: str, lines: Iterable[str]) -> None:
        self.before.setdefault(key, []).extend(lines)

    def reordered(self, order: tuple[str, ...]) -> Noted:
        """The same mapping, keys in `order` (the others after, as they were), comments kept."""
        out = Noted({k: self[k] for k in sorted(self, key=lambda k: order.index(k) if k in order else len(order))})
        out.notes, out.before = dict(self.notes), {k: list(v) for k, v in self.before.items()}
        return out

    def without_none(self) -> Noted:
        out = Noted({k: v for k, v in self.items() if v is not None})
        out.notes = {k: v for k, v in self.notes.items() if k in out}
        out.before = {k: v for k, v in self.before.items() if k in out}
        return out
