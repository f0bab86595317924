"""What the commands share: the project they work on, confirmation, the ``--json`` option, and the presentation
modules loaded on first use. ``main`` registers the commands of ``planning``, ``workspace`` and ``interop``; all
of them import this module, none imports ``main`` (import-linter's acyclic contract).
"""

from __future__ import annotations

import gc
import importlib.util
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import OrchestraError
from ..projectfiles import nearest_project

if TYPE_CHECKING:
    from ..engine.project import Project
    from ..store import Store


def lazy(name: str) -> ModuleType:
    """Module ``name``, run when an attribute of it is first used (``importlib.util.LazyLoader``): ``orchestra
    --version`` and ``--help`` need none of what the commands import (pydantic, networkx, the store)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


render = lazy("orchestra_tui.cli.render")
formatting = lazy("orchestra_tui.formatting")
json_shapes = lazy("orchestra_tui.cli.json_shapes")
progress = lazy("orchestra_tui.cli.progress")
graph_export = lazy("orchestra_tui.cli.graph_export")


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def given_root(ctx: typer.Context) -> str:
    """The directory ``--project`` names (default: the current one), as given."""
    root: str = ctx.find_root().obj
    return root


def plan_dir(ctx: typer.Context) -> Path:
    """The project directory: the given one (default: the current one) or, as git finds its repository, the
    nearest above it holding a plan, or the state of a project built with the Python API; the one used is
    named on stderr (once) when it is not the one given. Nothing is created in a directory that has neither."""
    from ..plan import PLAN_FILE

    given = given_root(ctx)
    root = Path(given)
    if not root.is_dir():
        raise OrchestraError(f"not a directory: {given}" if root.exists() else f"no such directory: {given}")
    found = nearest_project(root)
    if found is None:
        quoted = shlex.quote(given)
        raise OrchestraError(
            f"no {PLAN_FILE} in {given} or above it: run `orchestra init {quoted}`, or try `orchestra demo`"
        )
    if found != root and not ctx.find_root().meta.get("orchestra.found"):
        ctx.find_root().meta["orchestra.found"] = True
        typer.echo(f"using the project in {found} (the nearest above {given})", err=True)
    return found


def _notes(store: Store, seen: int) -> int:
    """Print the store's repairs and warnings not printed yet (stderr); returns how many have been printed."""
    lines = store.notes()
    for line in lines[seen:]:
        typer.echo(line, err=True)
    return len(lines)


@contextmanager
def open_project(ctx: typer.Context, actor: str = "cli", *, reading: bool = False) -> Iterator[Project]:
    """The open project; closing it refreshes the snapshot. Repairs and warnings go to stderr first.

    ``reading``: a read-only command, which repairs nothing (it reports damage and names `orchestra repair`)."""
    from ..engine.project import Project

    project = Project.open(
        plan_dir(ctx), actor=actor, repair=not reading, lock_timeout=lock_timeout(), on_lock_wait=note_waiting
    )
    # The loaded state lives until the process exits: keep the cyclic GC from rescanning it, and exit
    # without walking it (about 0.2 s of a 5,000-task `orchestra next`).
    gc.freeze()
    seen = _notes(project.store, 0)
    try:
        yield project
    finally:
        project.close()
        _notes(project.store, seen)


LOCK_TIMEOUT_ENV = "ORCHESTRA_LOCK_TIMEOUT"


def lock_timeout() -> float:
    """Seconds a change waits for another process's lock: $ORCHESTRA_LOCK_TIMEOUT, else 30."""
    try:
        return max(0.0, float(os.environ.get(LOCK_TIMEOUT_ENV, "30")))
    except ValueError:
        raise OrchestraError(f"${LOCK_TIMEOUT_ENV} must be a number of seconds") from None


def note_waiting(message: str) -> None:
    typer.echo(message, err=True)


def confirm(yes: bool, question: str) -> None:
    """Go on when ``yes`` or the person answers y; refuse without a terminal to ask on (nothing is changed)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise OrchestraError("refusing to change orchestra.toml without confirmation: add --yes")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        typer.echo("nothing was changed", err=True)
        raise typer.Exit(1)


async def close_clients() -> None:
    from ..engine.loop import close_clients

    await close_clients()
