"""Textual's private API, as ``tui/textual_compat.py`` uses it (docs/ARCHITECTURE.md §6): every private name
the shims rely on exists in the installed Textual, and frame pacing can be switched off."""

from __future__ import annotations

from pathlib import Path

import pytest
import textual
from textual.timer import Timer

from orchestra_tui.tui import textual_compat
from orchestra_tui.tui.app import create_app
from orchestra_tui.tui.textual_compat import PRIVATE_API, FrameTimer


@pytest.mark.parametrize(("owner", "make", "name"), PRIVATE_API, ids=[f"{o}.{n}" for o, _, n in PRIVATE_API])
def test_every_private_name_a_shim_uses_exists(owner: str, make: object, name: str) -> None:
    assert callable(make)
    assert hasattr(make(), name), (
        f"textual {textual.__version__} has no {owner}.{name}: the shim in orchestra_tui/tui/textual_compat.py "
        f"that uses it works around upstream behaviour that may have changed; read its note there"
    )


def test_the_shims_cover_every_private_access_in_the_tui() -> None:
    """No module of the TUI but textual_compat touches a private name of Textual's."""
    tui = Path(textual_compat.__file__).parent
    offenders = [
        f"{path.relative_to(tui)}: {line.strip()}"
        for path in sorted(tui.rglob("*.py"))
        if path.name != "textual_compat.py"
        for line in path.read_text().splitlines()
        if "textual._" in line or "textual.widgets._" in line or "from textual import _" in line
    ]
    assert offenders == []


@pytest.mark.parametrize(("value", "paced"), [("", True), ("1", True), ("0", False), ("off", False), ("no", False)])
async def test_frame_pacing_is_switched_off_by_the_environment(
    value: str, paced: bool, demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(textual_compat.PACING_ENV, value)
    app = create_app(demo_dir, config_dir=tmp_path / "config")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        timer = app.screen._update_timer
        assert isinstance(timer, Timer) and isinstance(timer, FrameTimer) == paced
