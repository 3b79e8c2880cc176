"""Column type strings (`decimal(12,2)`, `list<string>`, `struct<a:int32,b:string>`,
`map<string,double>`) to `FieldType` and back."""

from __future__ import annotations

import re

from saasbridge.catalog.model import FieldType
from saasbridge.errors import CatalogError

SCALAR_KINDS = ("string", "int32", "int64", "double", "boolean", "date", "timestamp")
NUMERIC_KINDS = ("int32", "int64", "double", "decimal")
ORDERED_KINDS = ("string", "int32", "int64", "double", "decimal", "date", "timestamp")
TYPE_SPELLINGS = (
    "string, int32, int64, double, decimal(p,s), boolean, date, timestamp, "
    "list<T>, struct<name:T,...>, map<string,T>"
)
MAX_DECIMAL_PRECISION = 38

_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)|(\d+)|([<>(),:]))")
_MEMBER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def is_scalar(ft: FieldType) -> bool:
    return ft.kind not in ("list", "struct", "map")


def is_numeric(ft: FieldType) -> bool:
    return ft.kind in NUMERIC_KINDS


def is_ordered(ft: FieldType) -> bool:
    """Types whose values compare with < and > (so range filters make sense)."""
    return ft.kind in ORDERED_KINDS


def format_type(ft: FieldType) -> str:
    """The canonical spelling of a type; `parse_type(format_type(t)) == t`."""
    if ft.kind == "decimal":
        return f"decimal({ft.precision},{ft.scale})"
    if ft.kind == "list":
        assert ft.item is not None
        return f"list<{format_type(ft.item)}>"
    if ft.kind == "map":
        assert ft.item is not None
        return f"map<string,{format_type(ft.item)}>"
    if ft.kind == "struct":
        return "struct<" + ",".join(f"{n}:{format_type(t)}" for n, t in ft.fields) + ">"
    return ft.kind


def parse_type(text: str) -> FieldType:
    """Parse a type string; raises `CatalogError` with a one-line reason and the valid spellings."""
    if not isinstance(text, str):
        raise CatalogError(f"a type must be a string such as 'int64', got {text!r}")
    tokens = _tokenize(text)
    parser = _Parser(text, tokens)
    ft = parser.parse()
    if parser.pos != len(tokens):
        raise parser.error(f"unexpected {tokens[parser.pos]!r} after the type")
    return ft


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if not m:
            bad = stripped[pos:].strip()[:1]
            raise CatalogError(f"invalid character {bad!r} in type {text!r}; spell types as {TYPE_SPELLINGS}")
        tokens.append(m.group(m.lastindex or 0))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str, tokens: list[str]):
        self.text = text
        self.tokens = tokens
        self.pos = 0

    def error(self, problem: str) -> CatalogError:
        return CatalogError(f"{problem} in type {self.text!r}; spell types as {TYPE_SPELLINGS}")

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise self.error("the type ends too early")
        self.pos += 1
        return tok

    def expect(self, tok: str) -> None:
        got = self.peek()
        if got != tok:
            raise self.error(f"expected {tok!r} but found {got!r}" if got else f"missing {tok!r}")
        self.pos += 1

    def number(self) -> int:
        tok = self.take()
        if not tok.isdigit():
            raise self.error(f"expected a number but found {tok!r}")
        return int(tok)

    def parse(self) -> FieldType:
        if self.peek() is None:
            raise CatalogError(f"empty type; use one of {TYPE_SPELLINGS}")
        word = self.take()
        kind = word.lower()
        if kind in SCALAR_KINDS:
            return FieldType(kind)  # type: ignore[arg-type]
        if kind == "decimal":
            self.expect("(")
            precision = self.number()
            self.expect(",")
            scale = self.number()
            self.expect(")")
            if not 1 <= precision <= MAX_DECIMAL_PRECISION or scale > precision:
                raise CatalogError(
                    f"decimal({precision},{scale}) is out of range in type {self.text!r}; "
                    f"use 1 <= precision <= {MAX_DECIMAL_PRECISION} and 0 <= scale <= precision"
                )
            return FieldType("decimal", precision=precision, scale=scale)
        if kind == "list":
            self.expect("<")
            item = self.parse()
            self.expect(">")
            return FieldType("list", item=item)
        if kind == "map":
            self.expect("<")
            key = self.take()
            if key.lower() != "string":
                raise self.error(f"map keys must be string, not {key!r}")
            self.expect(",")
            value = self.parse()
            self.expect(">")
            return FieldType("map", item=value)
        if kind == "struct":
            return self.struct()
        raise CatalogError(f"unknown type {word!r}; use one of {TYPE_SPELLINGS}")

    def struct(self) -> FieldType:
        self.expect("<")
        members: list[tuple[str, FieldType]] = []
        while True:
            name = self.take()
            if not _MEMBER_NAME.match(name):
                raise self.error(f"expected a member name but found {name!r}")
            if any(n == name for n, _ in members):
                raise self.error(f"duplicate struct member {name!r}")
            self.expect(":")
            members.append((name, self.parse()))
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect(">")
            return FieldType("struct", fields=tuple(members))
