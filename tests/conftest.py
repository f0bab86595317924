"""Shared fixtures: projects are always copied into tmp_path; the repo's sample projects are never written.

The default run is the fast one: tests marked ``slow`` (all of tests/slow and a few long ones elsewhere) are
skipped unless ``--all`` is given (``.ci/run`` gives it) or a marker expression (``-m slow``) chooses by itself.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers.fakeserver import FakeServer
from .helpers.plans import SAMPLES
from .helpers.receiver import Receiver


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--all", action="store_true", help="run the slow tests too (the whole suite, as .ci/run does)")


@pytest.hookimpl(trylast=True)  # after tests/slow/conftest.py has marked its tests
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--all") or config.getoption("markexpr"):
        return
    skip = pytest.mark.skip(reason="slow: `python3 -m pytest --all` runs it")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


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
