"""`saasbridge catalog show | validate | from-openapi`: inspect, check and draft catalog files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from saasbridge.errors import CatalogError, ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("catalog", help="show, validate or draft a catalog file",
                                   description="Show, validate or draft a catalog file (docs/catalog.md).")
    sub = parser.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND", parser_class=type(parser))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    show = sub.add_parser("show", help="print the entities and what each column can push down")
    show.add_argument("--catalog", metavar="FILE", help="catalog file (default: $SAASBRIDGE_CATALOG or the demo catalog)")
    show.add_argument("--entity", metavar="NAME", action="append", help="only this entity (repeatable)")
    show.add_argument("--plain", action="store_true", help="plain text even when rich is installed")
    show.set_defaults(func=run_show)

    validate = sub.add_parser("validate", help="check a catalog file; prints one line")
    validate.add_argument("file", metavar="FILE")
    validate.set_defaults(func=run_validate)

    draft = sub.add_parser("from-openapi", help="write a draft catalog from an OpenAPI 3 document")
    draft.add_argument("source", metavar="FILE_OR_URL")
    draft.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")
    draft.add_argument("--name", help="catalog name (default: from the document's title)")
    draft.add_argument("--base-url", help="API base URL (default: the document's servers, or its own URL's origin)")
    draft.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    draft.set_defaults(func=run_from_openapi)


def run_show(args: argparse.Namespace) -> int:
    from saasbridge.catalog import load_catalog
    from saasbridge.catalog.show import catalog_header, render_text, summarize
    from saasbridge.runtime import catalog_path

    catalog = load_catalog(args.catalog or catalog_path())
    entities = [catalog.entity(n) for n in args.entity] if args.entity else list(catalog.entities)
    if args.plain or not sys.stdout.isatty():
        sys.stdout.write(render_text(catalog, entities))
        return 0
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        sys.stdout.write(render_text(catalog, entities))
        return 0
    console = Console()
    for label, value in catalog_header(catalog):
        console.print(f"[bold]{label}[/bold]: {value}", highlight=False)
    for entity in entities:
        s = summarize(catalog, entity)
        console.print()
        console.rule(f"[bold]{s.name}[/bold]" + (f" — {s.description}" if s.description else ""))
        for label, value in s.facts:
            console.print(f"  [dim]{label}[/dim]: {value}", highlight=False)
        table = Table(show_edge=False, pad_edge=False)
        for heading in ("column", "type", "null", "api name", "pushdown", "write"):
            table.add_column(heading)
        for c in s.columns:
            table.add_row(c.column, c.type, "yes" if c.nullable else "no",
                          "" if c.api_name == c.column else c.api_name, c.pushdown or "[dim]local filter[/dim]",
                          "yes" if c.writable else "")
        console.print(table)
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from saasbridge.catalog import load_catalog

    catalog = load_catalog(args.file)
    fields = sum(len(e.fields) for e in catalog.entities)
    print(f"OK {args.file}: catalog {catalog.name!r}, {len(catalog.entities)} entities, {fields} columns")
    return 0


def run_from_openapi(args: argparse.Namespace) -> int:
    from saasbridge.catalog import load_catalog_text
    from saasbridge.catalog.openapi import draft_catalog_yaml, load_openapi

    if args.output:
        _check_output(Path(args.output), force=args.force)
    if args.base_url and not args.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url {args.base_url}: not an http(s) URL; write e.g. https://"
                          f"{args.base_url.split('://')[-1]}")
    doc = load_openapi(args.source)
    text = draft_catalog_yaml(doc, source=args.source, name=args.name, base_url=args.base_url)
    # A draft that does not load would only move the error to later: check it now.
    try:
        load_catalog_text(text, source=args.output or "<draft>", env={"SAASBRIDGE_API_URL": "http://placeholder"})
    except CatalogError as exc:
        raise CatalogError(f"the draft from {args.source} is not valid ({exc}); please report this") from None
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--output {args.output}: cannot write it ({exc.strerror}); choose another --output") from None
        print(f"wrote {args.output}; check it with `saasbridge catalog show --catalog {args.output}`", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _check_output(path: Path, *, force: bool) -> None:
    """Before any work: the draft can be written at `path`."""
    if path.is_dir():
        raise ConfigError(f"--output {path}: is a folder; give the catalog's file name, e.g. {path / 'catalog.yaml'}")
    if path.exists() and not force:
        raise CatalogError(f"{path} exists; pass --force to overwrite it or choose another --output")
    if not path.parent.is_dir():
        raise ConfigError(f"--output {path}: the folder {path.parent} does not exist; create it or choose another "
                          "--output")
