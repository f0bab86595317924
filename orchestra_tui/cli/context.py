"""What the commands share: the project they work on, confirmation, the ``--json`` option, and the presentation
modules loaded on first use. ``main`` registers the commands of ``planning``, ``workspace`` and ``interop``; all
of them import this module, none imports ``main`` (import-linter's acyclic contract).
"""

from __future__ import annotations

import importlib.util
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
from .opening import opened

if TYPE_CHECKING:
    from ..engine.project import Project


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


@contextmanager
def open_project(ctx: typer.Context, actor: str = "cli", *, reading: bool = False) -> Iterator[Project]:
    """The open project of the command (:func:`opening.opened` on :func:`plan_dir`)."""
    with opened(plan_dir(ctx), actor, reading=reading) as project:
        yield project


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
