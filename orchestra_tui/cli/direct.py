"""The read-only commands ``entry.py`` runs without typer: exactly the command lines whose answers are kept
(``answers.COMMANDS`` on a directory holding a plan, given as ``answers.ask`` recognises it), when no kept
answer matches (the first ``orchestra next`` after a change).

Typer is about 45 ms of such a run at 1,000 tasks: its import, the click tree of every command, and a pydantic
adapter built for each option parsed. Nothing of that decides the answer, so these lines skip it. The typer
command calls the same :func:`show_next` inside the same :func:`opening.opened`, and its group prints errors
with the same :func:`error_line`, so both ways print the same bytes and exit with the same code (tested).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ..errors import OrchestraError, PlanError
from . import safe
from .opening import opened

if TYPE_CHECKING:
    from ..engine.project import Project

PLUGINS_ENV = "PYDANTIC_DISABLE_PLUGINS"  # pydantic's own switch (docs.pydantic.dev, "Pydantic Plugins")
PLUGIN_LOADER = "pydantic.plugin._loader"  # the module pydantic takes its plugins from (``get_plugins``)


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


@contextmanager
def _no_plugin_scan() -> Iterator[None]:
    """Pydantic plugins off while the answer is computed, unless the user set ``PYDANTIC_DISABLE_PLUGINS``.

    The first validator a process builds makes pydantic import its plugin loader (``importlib.metadata``, which
    imports the ``email`` package: ~4 ms) and look for plugins in the entry points of every installed
    distribution (~4.5 ms with a few hundred installed). Pydantic skips the look under this documented variable,
    and :func:`_unplugged_loader` stands in for the loader meanwhile. A plugin only observes validation, so the
    answer is the same. A reading ``next`` starts no process that could inherit the variable (its webhooks are
    held, never released); the variable and the loader are put back as they were before the answer is kept (its
    key covers the environment)."""
    if PLUGINS_ENV in os.environ:
        yield
        return
    os.environ[PLUGINS_ENV] = "__all__"
    loader = _unplugged_loader()
    ours = sys.modules.setdefault(PLUGIN_LOADER, loader) is loader
    try:
        yield
    finally:
        os.environ.pop(PLUGINS_ENV, None)
        if ours and sys.modules.get(PLUGIN_LOADER) is loader:
            del sys.modules[PLUGIN_LOADER]


def _unplugged_loader() -> ModuleType:
    """A stand-in for pydantic's plugin loader module: its ``get_plugins`` answers what the real one answers under
    ``PYDANTIC_DISABLE_PLUGINS=__all__`` (no plugins), and any other name is the real module's, imported then (so
    a pydantic that asks its loader for more than this still gets it; ``test_direct.py`` pins what pydantic asks)."""
    loader = ModuleType(PLUGIN_LOADER)

    def get_plugins() -> tuple[()]:
        return ()

    def real(name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)  # (what the import system asks a module: a plain module's answer)
        if sys.modules.get(PLUGIN_LOADER) is loader:
            del sys.modules[PLUGIN_LOADER]
        return getattr(importlib.import_module(PLUGIN_LOADER), name)

    vars(loader).update(get_plugins=get_plugins, __getattr__=real)
    return loader


def run(root: Path, command: str) -> None:
    """Run ``command`` (``next`` or ``next --json``) on the project in ``root`` as typer would: the same output,
    and the same exit code (a ``SystemExit`` unless 0: 1 for a user error, 130 interrupted, 1 on a closed pipe)."""
    safe.install()
    try:
        with _no_plugin_scan(), opened(root, reading=True) as project:
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
