"""The text of one problem: a pydantic error, the value found and the field, phrased for a person."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import closest

_TYPE_NAMES = {
    str: "string",
    int: "integer",
    float: "float",
    bool: "boolean",
    list: "array",
    dict: "table",
}

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _type_name(value: Any) -> str:
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return name
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list)):
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    elif isinstance(value, (datetime.date, datetime.time)):
        text = value.isoformat()
    else:
        text = repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = closest(word, choices)
    return f" (did you mean {close!r}?)" if close else ""


def _lookup(data: Any, path: tuple[Any, ...]) -> tuple[bool, Any]:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, data


def _field_label(rest: tuple[Any, ...]) -> str:
    label = str(rest[0])
    for part in rest[1:]:
        label += f"[{part}]" if isinstance(part, int) else f".{part}"
    return label


def _message(error: Mapping[str, Any], found: bool, value: Any, field_name: str) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = f"{_type_name(value)} {_show(value)}" if found else None
    if kind == "missing":
        return "required field missing"
    if kind in ("enum", "literal_error"):
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        shown = _show(value) if found else "this value"
        hint = _suggest(value, choices) if found and isinstance(value, str) else ""
        return f"invalid value {shown}{hint} (allowed: {', '.join(choices)})"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {
            "greater_than": ("greater than", "gt"),
            "greater_than_equal": ("at least", "ge"),
            "less_than": ("less than", "lt"),
            "less_than_equal": ("at most", "le"),
        }[kind]
        bound = ctx.get(words[1])
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {words[0]} {bound}" + (f" (got {_show(value)})" if found else "")
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        if field_name in ("id", "task_id"):
            return f"invalid id {_show(value)}: use letters, digits and _ . : - (starting with a letter or digit)"
        if field_name == "entry":
            return f"invalid entry {_show(value)}: write it as 'package.module:ClassName'"
        return f"{_show(value)} does not match the pattern {ctx.get('pattern')}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}" + (f", got {got}" if got else "")
    message = str(error.get("msg", "invalid value")).replace("\n", " ")
    return message + (f" (got {got})" if got else "")
