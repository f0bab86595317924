"""Every use of pydantic's private API, in one place, each shim saying which upstream behaviour it works around.

Written against pydantic 2.13. ``PRIVATE_API`` lists every private name used here; ``tests/cli/test_pydantic_compat.py``
checks each one exists and is used as assumed, so a pydantic upgrade that changes one fails there, naming it.

1. Plugin discovery on a cold ``next`` (:func:`no_plugin_scan`, used by ``direct.py`` only). The first validator a
   process builds makes pydantic import its plugin loader, ``pydantic.plugin._loader`` (``importlib.metadata``,
   which imports the ``email`` package) and list the entry points of every installed distribution: ~8 ms of a
   ~150 ms command. The documented switch ``PYDANTIC_DISABLE_PLUGINS`` skips the listing but not the import; a
   stand-in for the loader module skips both.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

PLUGINS_ENV = "PYDANTIC_DISABLE_PLUGINS"  # pydantic's own switch (docs.pydantic.dev, "Pydantic Plugins")
PLUGIN_LOADER = "pydantic.plugin._loader"  # the module pydantic takes its plugins from (``get_plugins``)
PRIVATE_API = ((PLUGIN_LOADER, "get_plugins"),)


@contextmanager
def no_plugin_scan() -> Iterator[None]:
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
    a pydantic that asks its loader for more than this still gets it; the test of this module pins what pydantic
    asks)."""
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
