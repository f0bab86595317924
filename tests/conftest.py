"""Shared fixtures: projects are always copied into tmp_path; the repo's sample projects are never written."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers.fakeserver import FakeServer
from .helpers.plans import SAMPLES
from .helpers.receiver import Receiver


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A model server on 127.0.0.1 that replays scripted replies (tests/helpers/fakeserver.py)."""
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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()
