"""Shared fixtures: projects are always copied into tmp_path; the repo's sample projects are never written.

The default run is the fast one: tests marked ``slow`` (all of tests/slow and a few long ones elsewhere) are
skipped unless ``--all`` is given (``.ci/run`` gives it) or a marker expression (``-m slow``) chooses by itself.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers.fakeserver import FakeServer
from .helpers.plans import SAMPLES
from .helpers.receiver import Receiver


def _ignored_here(signum: int, frame: object) -> None:
    """Ignore the signal in the test process itself, but as a handler: exec resets a handler to the default."""


def _restore_signals_for_children() -> None:
    """The suite sends SIGINT, SIGHUP and SIGQUIT to the processes it starts (Ctrl-C, a hang-up); a child inherits
    an *ignored* signal across exec. Run from a script's background job or under ``nohup``, the test process starts
    with them ignored, and so would every child: a Ctrl-C test would wait for an interrupt that never lands."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGHUP, signal.SIGQUIT):
        if signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, _ignored_here)


_restore_signals_for_children()


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
