"""A plan file's text as tomli-w writes it, written faster: :func:`dumps` equals ``tomli_w.dumps``.

tomli-w is generic pure Python (a generator per table, a loop per character of every string) and took a sixth
of importing 5,000 Taskmaster tasks. A plan written from nothing is tables of strings, lists of strings and
numbers, and nested tables of the same (``[project]``, ``[[tasks]]``, ``[tasks.metadata]``): those are written
here in tomli-w's layout, byte for byte (the tests compare the two on random documents). Whatever this is not
sure to write as tomli-w would (an inline table, a date, tasks short enough for tomli-w to write as one inline
array) makes the whole document go to tomli-w itself, which stays the reference.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from typing import Any

import tomli_w

_ESCAPED = frozenset('"\\\x7f') | frozenset(chr(code) for code in range(32) if chr(code) != "\t")
_ESCAPED_MULTILINE = _ESCAPED - {"\n"}
_COMPACT = {"\b": "\\b", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_ESCAPES = str.maketrans({char: _COMPACT.get(char, f"\\u{ord(char):04x}") for char in _ESCAPED})
_ESCAPES_MULTILINE = str.maketrans({char: _COMPACT.get(char, f"\\u{ord(char):04x}") for char in _ESCAPED_MULTILINE})
_BARE_KEY = frozenset(string.ascii_letters + string.digits + "-_")
_INDENT = "    "  # tomli-w's default indent
_INLINE_MAX = 100  # tomli-w writes an array of tables inline when each would fit in this many characters


def dumps(data: Mapping[str, Any], *, multiline_strings: bool = False) -> str:
    """``tomli_w.dumps(data, multiline_strings=...)``, the same text."""
    chunks: list[str] = []
    if _table(data, "", False, multiline_strings, chunks):
        return "".join(chunks)
    return tomli_w.dumps(data, multiline_strings=multiline_strings)


def _table(table: Mapping[str, Any], name: str, repeated: bool, multiline: bool, out: list[str]) -> bool:
    """Append ``table`` (named ``name``; one of an array of tables when ``repeated``) to ``out`` as tomli-w
    writes it: its header, its ``key = value`` lines, then its sub-tables. False when not sure how."""
    literals, tables = [], []
    for key, value in table.items():
        if type(value) is str:  # most values: spare them the checks below (isinstance of an ABC is slow)
            literals.append((key, value))
        elif isinstance(value, Mapping):
            tables.append((key, value, False))
        elif not _array_of_tables(value):
            literals.append((key, value))
        elif any(_not_inline(item, multiline) for item in value):
            tables.extend((key, item, True) for item in value)
        else:
            return False  # tomli-w may write these tables as one inline array
    wrote = repeated or bool(name and (literals or not tables))
    if wrote:
        out.append(f"[[{name}]]\n" if repeated else f"[{name}]\n")
    for key, value in literals:
        part = _key(key)
        literal = _string(value, multiline) if type(value) is str else _literal(value, multiline, 0)
        if part is None or literal is None:
            return False
        out.append(f"{part} = {literal}\n")
        wrote = True
    for key, value, in_array in tables:
        part = _key(key)
        if part is None:
            return False
        if wrote:
            out.append("\n")
        wrote = True
        if not _table(value, f"{name}.{part}" if name else part, in_array, multiline, out):
            return False
    return True


def _literal(value: Any, multiline: bool, level: int) -> str | None:
    if type(value) is str:
        return _string(value, multiline)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return _string(value, multiline)
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = []
        for item in value:
            literal = _literal(item, multiline, level + 1)
            if literal is None:
                return None
            items.append(_INDENT * (level + 1) + literal)
        return "[\n" + ",\n".join(items) + ",\n" + _INDENT * level + "]"
    return None


def _string(text: str, multiline: bool) -> str:
    """The basic string, or the multi-line one when allowed and ``text`` has a line break (its CR LFs as LFs)."""
    if multiline and "\n" in text:
        text = text.replace("\r\n", "\n")
        body = text if _ESCAPED_MULTILINE.isdisjoint(text) else text.translate(_ESCAPES_MULTILINE)
        return '"""\n' + body + '"""'
    return '"' + (text if _ESCAPED.isdisjoint(text) else text.translate(_ESCAPES)) + '"'


@functools.lru_cache(maxsize=1024)  # the same few keys in every table
def _key(key: Any) -> str | None:
    if not isinstance(key, str):
        return None
    if key and _BARE_KEY.issuperset(key):
        return key
    return _string(key, False)


def _array_of_tables(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(item, Mapping) for item in value)


def _not_inline(table: Mapping[str, Any], multiline: bool) -> bool:
    """True when tomli-w certainly writes ``table`` as a ``[[...]]`` table, not inline: its inline form would
    hold a line break (a non-empty array, a multi-line string) or be over 100 characters (keys and string values
    alone are more)."""
    length = 0
    for key, value in table.items():
        if isinstance(value, (list, tuple)) and value:
            return True
        if isinstance(value, str):
            if multiline and "\n" in value:
                return True
            length += len(value)
        length += len(str(key))
    return length > _INLINE_MAX
