"""Errors a user can cause or fix. Every one carries a single line that the faces print as is.

Anything that is not an ``OrchestraError`` is a bug and may show a traceback; these never do.
Errors about bad values are also ``ValueError``s, which is what the seed framework raised for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

ECHO_LIMIT = 80  # characters of a user's value an error shows (a 100 KB title must not fill the terminal)
MESSAGE_LIMIT = 1000
_LONG_RUN = re.compile(r"\S{201,}")


def quoted(value: Any, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters with an ellipsis: how errors echo input."""
    text = repr(value).replace("\n", "\\n")
    if len(text) <= limit:
        return text
    closing = text[-1] if text[-1] in "'\"])}" else ""
    return text[: limit - 3 - len(closing)] + "..." + closing


def capped(message: str) -> str:
    """The safety net for values echoed without ``quoted``: any run of over 200 non-blank characters is cut
    short, and so is a message over ``MESSAGE_LIMIT`` characters."""
    message = _LONG_RUN.sub(lambda match: match.group()[:ECHO_LIMIT] + "...", message)
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 3] + "..."


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice a typo most likely meant: an exact match ignoring case first, then difflib's best (imported
    here: only a typo needs it, and every command imports this module)."""
    import difflib

    choices = list(choices)
    folded = word.casefold()
    for choice in choices:
        if choice.casefold() == folded:
            return choice
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return match[0] if match else None


class OrchestraError(Exception):
    """Base of every user-facing error: ``str(error)`` is one specific line."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        message = capped(message)
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class PlanError(OrchestraError, ValueError):
    """The plan cannot be used. ``problems`` holds every problem found, one line each."""

    def __init__(self, problems: list[str]) -> None:
        problems = [capped(problem) for problem in problems]
        self.problems = problems
        head = problems[0] if problems else "invalid plan"
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        super().__init__(head + more)


class UnknownTaskError(OrchestraError, ValueError):
    def __init__(self, task_id: str, known: Iterable[str] = ()) -> None:
        suggestion = closest(task_id, known)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        super().__init__(f"unknown task {quoted(task_id)}{hint}")
        self.task_id = task_id


class TransitionError(OrchestraError, ValueError):
    """A state change the task's current state does not allow."""


class RunBusyError(TransitionError):
    """A task cannot start a run: another run of it is still live (in this process or another)."""


class SupersededError(TransitionError):
    """A run's end was refused because its task moved on (failed, retried, undone or restarted) while it ran."""


class UnknownEntryError(OrchestraError, ValueError):
    def __init__(self, entry: str) -> None:
        super().__init__(f"unknown history entry {quoted(entry)}; `orchestra backups` lists them")
        self.entry = entry


class StaleStateError(OrchestraError):
    """A change was computed from a state that another writer has since replaced."""


class StateError(OrchestraError):
    """The state on disk cannot be read or written (damaged beyond repair, newer format, disk full, read-only)."""


class LockTimeoutError(StateError):
    pass


class GitError(OrchestraError):
    """git is missing or too old, the project is not in a usable repository, or a git command failed."""


class WorkspaceError(OrchestraError):
    """A task's worktree cannot be made, set up or used (a failed setup command, the cap, an unsafe path)."""


class MergeConflictError(TransitionError):
    """A task's branch conflicts with the integration branch: it stays in review, its conflicting files named."""

    def __init__(self, message: str, files: list[str]) -> None:
        super().__init__(message)
        self.files = files


class IntegrationMovedError(OrchestraError):
    """The integration branch is not where orchestra left it; orchestra refuses to move it (never forces)."""
