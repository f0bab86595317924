"""The Python API's bridge from a user's plain (sync) script to the async engine.

:func:`run_blocking` runs one call to the end on a new event loop, then closes the HTTP client the agents
opened on it. :func:`forwarding` hands the agents' text to a callback as it streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

from .agents.base import close_http_clients

if TYPE_CHECKING:
    from .engine.bus import Bus

T = TypeVar("T")


def run_blocking(call: Callable[[], Awaitable[T]], name: str, instead: str) -> T:
    """``call()`` run to the end from sync code; inside a running event loop, a RuntimeError naming ``instead``."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_closing_http(call))
    raise RuntimeError(f"{name}() cannot run inside a running event loop; use `await {instead}(...)` there")


async def _closing_http(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    finally:  # this event loop ends here: close the HTTP client the agents opened on it
        await close_http_clients()


@asynccontextmanager
async def forwarding(bus: Bus, on_text: Callable[[str, str], None] | None) -> AsyncIterator[None]:
    """While inside, each agent text published on ``bus`` goes to ``on_text(task_id, text)`` (if given)."""
    if on_text is None:
        yield
        return
    from .engine.bus import RunOutput

    subscription = bus.subscribe()

    async def pump() -> None:
        async for event in subscription:
            if isinstance(event, RunOutput) and event.source == "agent":
                on_text(event.task_id, event.text)

    pumping = asyncio.create_task(pump())
    try:
        yield
    finally:
        subscription.close()
        await pumping
