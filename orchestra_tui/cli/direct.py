"""The read-only commands ``entry.py`` runs without typer: exactly the command lines whose answers are kept
(``answers.COMMANDS`` on a directory holding a plan, given as ``answers.ask`` recognises it), when no kept
answer matches (the first ``orchestra next`` after a change).

Typer is about 45 ms of such a run at 1,000 tasks: its import, the click tree of every command, and a pydantic
adapter built for each option parsed. Nothing of that decides the answer, so these lines skip it. The typer
command calls the same :func:`show_next` inside the same :func:`opening.opened`, and its group prints errors
with the same :func:`error_line`, so both ways print the same bytes and exit with the same code (tested).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OrchestraError, PlanError
from . import safe
from .opening import opened
from .pydantic_compat import no_plugin_scan

if TYPE_CHECKING:
    from ..engine.project import Project


def error_line(error: OrchestraError) -> str:
    """The one line a user error is reported with (``error: ...``)."""
    many = isinstance(error, PlanError) and len(error.problems) > 1
    return f"error: {error}" + ("; `orchestra validate` lists them all" if many else "")


def show_next(project: Project, as_json: bool) -> None:
    """``orchestra next``: the recommended task as JSON (null when none is ready), or the line saying it."""
    if as_json:
        from .json_shapes import task_json
        from .render import emit_json

        task = project.next_task()
        emit_json(None if task is None else task_json(project, task))
    else:
        from ..engine.next_step import next_line

        print(next_line(project))


def run(root: Path, command: str) -> None:
    """Run ``command`` (``next`` or ``next --json``) on the project in ``root`` as typer would: the same output,
    and the same exit code (a ``SystemExit`` unless 0: 1 for a user error, 130 interrupted, 1 on a closed pipe)."""
    safe.install()
    try:
        with no_plugin_scan(), opened(root, reading=True) as project:
            show_next(project, as_json=command == "next --json")
        sys.stdout.flush()
    except OrchestraError as error:
        print(error_line(error), file=sys.stderr, flush=True)
        raise SystemExit(error.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except BrokenPipeError:
        # The reader went away: no more output, and no complaint when Python flushes at exit (its docs' advice).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
