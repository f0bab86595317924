"""Shared fixtures: projects are always copied into tmp_path; the repo's sample projects are never written."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .fakeserver import FakeServer

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from orchestra_tui.tui.app import OrchestraApp

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_projects"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A model server on 127.0.0.1 that replays scripted replies (tests/fakeserver.py)."""
    with FakeServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Iterator[None]:
    """The secrets registry is process-wide: each test starts with none (a value one test expanded, such as
    ``orchestra``, would otherwise be redacted from another's output)."""
    from orchestra_tui.redaction import REGISTRY

    REGISTRY.clear()
    yield
    REGISTRY.clear()


@pytest.fixture(autouse=True)
def _no_agents_or_webhooks_from_code() -> Iterator[None]:
    """Agents and webhooks registered from code live as long as the process: one test's registrations
    (an agent named ``gpt``) must not run in a later test's project."""
    yield
    from orchestra_tui.agents import registry
    from orchestra_tui.engine import webhooks

    registry._PROCESS_AGENTS.clear()
    webhooks._REGISTERED.clear()


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(SAMPLES / "demo", target, ignore=shutil.ignore_patterns(".orchestra", "build"))
    return target


def write_plan(root: Path, body: str, project_id: str = "t") -> Path:
    """Write an orchestra.toml with a [project] table and ``body`` (tasks etc.)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "orchestra.toml"
    path.write_text(f'[project]\nid = "{project_id}"\nname = "Test"\n\n' + body)
    return path


def task_block(task_id: str, deps: list[str] | None = None, **fields: object) -> str:
    lines = [
        "[[tasks]]",
        f'id = "{task_id}"',
        f'title = "Task {task_id}"',
        f"dependencies = {list(deps or [])!r}".replace("'", '"'),
    ]
    for key, value in fields.items():
        lines.append(
            f"{key} = {value!r}".replace("'", '"') if not isinstance(value, bool) else f"{key} = {str(value).lower()}"
        )
    return "\n".join(lines) + "\n\n"


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def read_until(process: subprocess.Popen[bytes], text: bytes, timeout: float = 30) -> bytes:
    """Read the process's stdout until ``text`` appears (bounded by ``timeout``); returns all that was read."""
    assert process.stdout is not None
    fd, seen, deadline = process.stdout.fileno(), b"", time.monotonic() + timeout
    while text not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {text!r} within {timeout}s; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, f"output ended before {text!r}: {seen!r}"
            seen += chunk
    return seen


def app_on(root: Path, tmp_path: Path, **options: Any) -> OrchestraApp:
    """The app through the CLI's own factory, with its config.toml under ``tmp_path``."""
    from orchestra_tui.tui.app import create_app  # textual is loaded only by the tests that use it

    return create_app(root, config_dir=tmp_path / "config", **options)


async def until(pilot: Pilot, condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    """Let the app run until ``condition()`` holds, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await pilot.pause(0.02)
