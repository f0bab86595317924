"""The TUI's runs go in driver processes that outlive the app: whatever a test leaves going is stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..helpers.drivers import stop_drivers


@pytest.fixture(autouse=True)
def _no_driver_left(tmp_path: Path) -> Iterator[None]:
    yield
    stop_drivers(tmp_path)
