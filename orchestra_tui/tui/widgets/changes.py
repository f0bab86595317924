"""Changes written for people (the timeline's preview and the rollback dialog): ``DEV-003: in progress →
completed, took 12 min`` rather than the field dump the CLI's ``diff`` prints (``actual_hours none -> 0.0001``).

Bookkeeping fields (times, run ids, hashes) are left out when the status already says what happened; the
definition fields a person edits are named (``title changed``, ``priority high → low``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...formatting import change_lines, changed_fields, spent, status_phrase
from ...store.changes import Change

_QUIET = frozenset({"started_at", "completed_at", "last_run_id", "updated_at", "created_at", "attempts"})
"""Fields that only follow a status change: named only when nothing else changed."""
_SCALAR = frozenset({"priority", "phase", "agent", "estimated_hours", "output"})
"""Definition fields shown with their values; the others (title, description, lists) are named only."""


def people_lines(changes: Iterable[Change]) -> list[str]:
    """One line per changed task, then -> now: ``+ T-9 added``, ``- T-2 removed``, ``T-3: ready → completed``."""
    return change_lines(changes, _described)


def _described(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return ", ".join(_parts(before, after))


def _parts(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    names = changed_fields(before, after)
    parts: list[str] = []
    for name in names:
        old, new = before.get(name), after.get(name)
        if name == "status":
            parts.append(f"{status_phrase(old or 'none')} → {status_phrase(new or 'none')}")
        elif name == "actual_hours":
            if new is not None:
                parts.append(f"took {spent(new)}")
        elif name == "last_error":
            parts.append(f"error: {new}" if new else "error cleared")
        elif name in ("input_tokens", "output_tokens"):
            parts.append(f"{name.split('_')[0]} tokens {old or 0:,} → {new or 0:,}")
        elif name == "cost_usd":
            parts.append(f"cost ${old or 0:.4f} → ${new or 0:.4f}")
        elif name == "dependencies":
            gone, came = set(old or ()) - set(new or ()), set(new or ()) - set(old or ())
            parts.append(
                "dependencies " + ", ".join([*(f"+{d}" for d in sorted(came)), *(f"-{d}" for d in sorted(gone))])
            )
        elif name in _SCALAR:
            parts.append(f"{name.replace('_', ' ')} {_short(old)} → {_short(new)}")
        elif name not in _QUIET:
            parts.append(f"{name.replace('_', ' ')} changed")
    if not parts:  # only bookkeeping changed: say which
        parts = [f"{name.replace('_', ' ')} changed" for name in names]
    return parts


def _short(value: Any) -> str:
    if value is None:
        return "none"
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"
