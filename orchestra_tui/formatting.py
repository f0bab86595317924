"""How figures, times, ids, statuses and changes read: plain text that every face shows the same way.

No colour and no toolkit here (the faces add their own styles): the CLI's tables and the TUI's widgets both
format hours, time spent, run times, limits, token counts, local times, id lists and change lines with these functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .statuses import STATUS_ORDER


def status_phrase(status: str) -> str:
    """A status as words in a sentence: ``DES-001 is in review``, ``is in progress``, ``is completed``."""
    return {"review": "in review", "in_progress": "in progress"}.get(str(status), str(status))


def hours(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def spent(value: float | None) -> str:
    """Time actually spent, given in hours, in the unit that reads best: ``4 s``, ``12 min``, ``1.5 h``."""
    if value is None:
        return "-"
    seconds = value * 3600
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    if seconds < 3570:
        return f"{seconds / 60:.0f} min"
    return f"{value:.3g} h"


def elapsed(seconds: float) -> str:
    """A run's time as it goes (and at its end): ``4.2 s`` below a minute, then ``3 min 07 s``."""
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def duration(seconds: float) -> str:
    """A configured length of time (a limit) as it was most likely written: ``90 s``, ``10 min``, ``1 h``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def count(value: int | None) -> str:
    """A token count, or ``unknown`` (never a made-up 0)."""
    return "unknown" if value is None else f"{value:,}"


def tokens_line(
    input_tokens: int | None, output_tokens: int | None, cache_read: int | None = None, cache_write: int | None = None
) -> str:
    cached = [
        f"{count(value)} {what}" for value, what in ((cache_read, "cache read"), (cache_write, "cache write")) if value
    ]
    return f"{count(input_tokens)} in / {count(output_tokens)} out" + (f" ({', '.join(cached)})" if cached else "")


def local_time(value: str | datetime | None) -> str:
    """An ISO time (or datetime) in the local zone, to the second; '-' for none."""
    if value is None:
        return "-"
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except ValueError:
        return str(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def id_list(ids: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" +{len(ids) - limit}" if len(ids) > limit else "")


def counts_line(counts: Mapping[str, int]) -> str:
    return " · ".join(f"{status.replace('_', ' ')} {counts.get(status, 0)}" for status in STATUS_ORDER)


_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        text = ", ".join(str(item) for item in value) if value else "[]"
    elif isinstance(value, dict):
        text = json.dumps(value, default=str)
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, str) and _ISO_TIME.match(value):
        text = local_time(value)
    elif isinstance(value, str) and _SHA256.match(value):
        text = value[:12] + "…"
    else:
        text = str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= 48 else text[:47] + "…"


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The fields an update touches, status first, then by name."""
    return sorted(after.keys() | before.keys(), key=lambda name: (name != "status", name))


def _field_dump(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return "; ".join(
        f"{name} {_value(before.get(name))} -> {_value(after.get(name))}" for name in changed_fields(before, after)
    )


def change_lines(
    changes: Iterable[Mapping[str, Any]],
    describe: Callable[[Mapping[str, Any], Mapping[str, Any]], str] = _field_dump,
) -> list[str]:
    """One readable line per changed task: ``T-3: status pending -> completed``, ``+ T-9 added``, ``- T-2 removed``;
    ``describe`` words an update's (or the project's) fields, before and after (the CLI's field dump by default)."""
    lines = []
    for change in changes:
        op, task_id = change["op"], change["task"]
        if op == "add":
            lines.append(f"+ {task_id} added")
        elif op == "remove":
            lines.append(f"- {task_id} removed")
        else:
            label = task_id if op == "update" else "project"
            lines.append(f"{label}: {describe(change['before'] or {}, change['after'] or {})}")
    return lines


# A patch line's tone by its first characters (the first prefix that matches): ``heading`` (bold in both faces),
# else a tone of statuses.py, which each face colours its own way (the TUI from the theme, the CLI in ANSI).
_PATCH_TONES = (
    ("+++", "heading"),
    ("---", "heading"),
    ("diff --git", "heading"),
    ("@@", "primary"),
    ("+", "success"),
    ("-", "error"),
)


def patch_tone(line: str) -> str | None:
    """How a line of a unified diff is coloured: ``heading``, ``primary`` (a hunk), ``success``, ``error``, or
    None (a context line)."""
    return next((tone for prefix, tone in _PATCH_TONES if line.startswith(prefix)), None)
