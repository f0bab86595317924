"""The agents tests' shared HTTP client is closed after each test (the ``server`` fixture is the root conftest's)."""

from __future__ import annotations

import pytest

from orchestra_tui.agents import close_http_client


@pytest.fixture(autouse=True)
async def _close_client() -> object:
    yield
    await close_http_client()
