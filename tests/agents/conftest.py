"""Fixtures of the HTTP agent tests: a real server on 127.0.0.1, and the shared client closed after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestra_tui.agents import close_http_client

from ..helpers.fakeserver import FakeServer


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
async def _close_client() -> object:
    yield
    await close_http_client()
