"""Ray's private API, as ``agents/ray_compat.py`` uses it: every private name exists in the installed Ray and is
used as the shims assume, and what Ray's listener would print goes to the log as printable lines."""

from __future__ import annotations

import importlib
import logging

import pytest

from orchestra_tui.agents.ray_compat import PRIVATE_API, quiet_cluster_messages

pytest.importorskip("ray", reason="Ray is an extra: pip install 'orchestra-tui[ray]' (.ci/run installs it)")


@pytest.mark.parametrize(("module", "name"), PRIVATE_API, ids=[f"{m}.{n}" for m, n in PRIVATE_API])
def test_every_private_name_a_shim_uses_exists(module: str, name: str) -> None:
    assert callable(getattr(importlib.import_module(module), name, None)), f"{module}.{name} is gone"


def test_the_listener_looks_its_printer_up_as_it_prints() -> None:
    """The shim replaces the module's ``print_to_stdstream``: that reaches the listener only while it calls it by
    its global name."""
    worker = importlib.import_module("ray._private.worker")
    assert "print_to_stdstream" in worker.listen_error_messages.__code__.co_names


def test_what_the_listener_would_print_is_logged_as_printable_lines(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orchestra_tui.agents.ray")
    quiet_cluster_messages()
    worker = importlib.import_module("ray._private.worker")
    worker.print_to_stdstream({"lines": ["one \x1b]0;title\x07", "two"], "pid": "raylet", "is_err": False}, False)
    assert [record.getMessage() for record in caplog.records] == [
        "ray (raylet): one \u241b]0;title\u2407",
        "ray (raylet): two",
    ]
    assert capsys.readouterr() == ("", "")
