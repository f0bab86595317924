"""Pydantic's private API, as ``cli/pydantic_compat.py`` uses it: every private name exists in the installed pydantic
and is used by pydantic as the shim assumes, and the stand-in plugin loader answers as the real one would."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from orchestra_tui.cli.pydantic_compat import PLUGIN_LOADER, PLUGINS_ENV, PRIVATE_API


@pytest.mark.parametrize(("module", "name"), PRIVATE_API, ids=[f"{m}.{n}" for m, n in PRIVATE_API])
def test_every_private_name_a_shim_uses_exists(module: str, name: str) -> None:
    assert callable(getattr(importlib.import_module(module), name, None)), f"{module}.{name} is gone"


#: Opens the window in which a direct ``next`` runs, asks pydantic's plugin loader for its plugins and for another
#: name, and says what was imported and set within and after it.
STAND_IN = (
    "import os, sys\nfrom orchestra_tui.cli.pydantic_compat import no_plugin_scan\nwith no_plugin_scan():\n"
    "    from pydantic.plugin._loader import get_plugins\n"
    "    print(list(get_plugins()), 'importlib.metadata' in sys.modules, os.environ['PYDANTIC_DISABLE_PLUGINS'])\n"
    "    from pydantic.plugin._loader import PYDANTIC_ENTRY_POINT_GROUP\n"
    "    print(PYDANTIC_ENTRY_POINT_GROUP, hasattr(sys.modules['pydantic.plugin._loader'], '_plugins'))\n"
    "print('PYDANTIC_DISABLE_PLUGINS' in os.environ, hasattr(sys.modules['pydantic.plugin._loader'], '_plugins'))\n"
)


def test_the_stand_in_plugin_loader_has_no_plugins_and_hands_anything_else_to_pydantics(tmp_path: Path) -> None:
    """While a direct ``next`` runs, pydantic's plugin loader module is a stand-in: no plugins, without importing
    ``importlib.metadata``; a name it does not have is the real loader's (imported then, in its place), and
    afterwards the environment is as it was."""
    env = {name: value for name, value in os.environ.items() if name != "PYDANTIC_DISABLE_PLUGINS"}
    done = subprocess.run([sys.executable, "-c", STAND_IN], capture_output=True, text=True, timeout=120, env=env)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == ["[] False __all__", "pydantic True", "False True"]


def test_pydantic_takes_its_plugins_from_the_loader_a_direct_next_stands_in_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stand-in (``PLUGIN_LOADER``) spares a cold ``next`` ~8 ms only while pydantic asks that module's
    ``get_plugins`` when it builds a validator: pinned here, so that a pydantic that changes it is noticed."""
    asked: list[object] = []

    class Watching:
        def new_schema_validator(self, schema: object, schema_type: object, *rest: object) -> tuple[None, None, None]:
            asked.append(schema_type)
            return None, None, None

    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    monkeypatch.setattr(importlib.import_module(PLUGIN_LOADER), "get_plugins", lambda: [Watching()])

    class Fresh(BaseModel):
        value: int

    assert Fresh(value=1).value == 1 and asked == [Fresh]
