"""Where a task's ``output`` may be written: inside the project, never over orchestra's own files.

A plan may come from someone else: ``output = ".orchestra/journal.log"`` would destroy the history and
``output = "orchestra.toml"`` would replace the plan. Validation refuses those by name (file and line); the
runner checks again on the resolved path (a symlinked directory can lead there too) and refuses to replace
an existing file that the task does not list in its ``deliverables``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path

from ..projectfiles import PLAN_FILES, STATE_DIR

PROTECTED_DIRS = (STATE_DIR, ".git")


def output_problem(output: str) -> str | None:
    """Why ``output`` (as written in the plan) may not be a task's output path, or None."""
    if posixpath.isabs(output) or output.startswith("~"):
        return "is an absolute path; an output stays inside the project"
    parts = posixpath.normpath(output.replace("\\", "/")).split("/")
    if parts[0] == "..":
        return "leads out of the project; an output stays inside it"
    if parts[0] == "." or parts[-1] in ("", "."):
        return "is the project directory, not a file"
    if parts[0] in PROTECTED_DIRS:
        return f"is inside {parts[0]}/; a task may not write there"
    if len(parts) == 1 and parts[0] in PLAN_FILES:
        return "is the plan file; a task may not replace it"
    return None


def resolved_output_problem(root: Path, output: str, deliverables: Iterable[str]) -> str | None:
    """``output_problem``, then the same on the resolved target (through symlinks), then: an existing file
    is replaced only when the task lists it in ``deliverables``."""
    problem = output_problem(output)
    if problem is not None:
        return problem
    root = root.resolve()
    target = (root / output).resolve()
    if not target.is_relative_to(root) or target == root:
        return "leads out of the project; an output stays inside it"
    inside = target.relative_to(root).as_posix()
    problem = output_problem(inside)
    if problem is not None:
        return problem + f" (it resolves to {inside})"
    if target.exists() and inside not in {posixpath.normpath(item) for item in deliverables}:
        return "is an existing file the task does not list in its deliverables; add it there to let the task replace it"
    return None
