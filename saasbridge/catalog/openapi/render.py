"""The draft as YAML text with its comments (ruamel.yaml: PyYAML cannot write comments)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from saasbridge.catalog.openapi.notes import Noted

_MAP_INDENT, _SEQ_INDENT, _SEQ_OFFSET = 2, 4, 2


def draft_yaml(catalog: Mapping[str, Any], header: Sequence[str]) -> str:
    """YAML text of a draft: `header` lines as comments on top, each `Noted` mapping's notes at
    the end of their key's line and its `before` lines above their key."""
    yaml = YAML()
    yaml.indent(mapping=_MAP_INDENT, sequence=_SEQ_INDENT, offset=_SEQ_OFFSET)
    yaml.width = 110
    yaml.allow_unicode = True
    root = _commented(catalog, 0)
    root.yaml_set_start_comment("\n".join(header))
    out = io.StringIO()
    yaml.dump(root, out)
    return out.getvalue()


def _commented(value: Any, column: int) -> Any:
    """ruamel's commented form of a draft value whose keys start at `column`; a collection of
    scalars only is written in flow style (`{op: eq, param: status}`), as PyYAML's default does."""
    if isinstance(value, Mapping):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _commented(item, column + (_SEQ_INDENT if _is_block_seq(item) else _MAP_INDENT))
        notes = value.notes if isinstance(value, Noted) else {}
        before = value.before if isinstance(value, Noted) else {}
        for key, text in notes.items():
            out.yaml_add_eol_comment(text, key)
        for key, lines in before.items():
            out.yaml_set_comment_before_after_key(key, before="\n".join(lines), indent=column)
        if _is_leaf(value) and not notes and not before:
            out.fa.set_flow_style()
        return out
    if isinstance(value, list):
        seq = CommentedSeq(_commented(v, column) for v in value)
        if _is_leaf(value):
            seq.fa.set_flow_style()
        return seq
    return value


def _is_leaf(value: Mapping[str, Any] | list[Any]) -> bool:
    items = value.values() if isinstance(value, Mapping) else value
    return not any(isinstance(v, (Mapping, list)) for v in items)


def _is_block_seq(value: Any) -> bool:
    return isinstance(value, list) and not _is_leaf(value)
