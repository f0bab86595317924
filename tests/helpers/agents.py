"""Test agents the runner and scheduler run: scripted events, sleeps of a task's estimate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence

from orchestra_tui.agents.base import AgentRequest, Usability
from orchestra_tui.agents.events import (
    AgentEvent,
    Finished,
    TextDelta,
)
from orchestra_tui.models import AgentConfig, AgentType


class ScriptedAgent:
    """Yields ``events`` in order, ``pause`` seconds apart, and keeps every request it got."""

    def __init__(
        self,
        events: Sequence[AgentEvent | Exception],
        pause: float = 0.0,
        config: AgentConfig | None = None,
        name: str = "scripted",
    ) -> None:
        self.name = name
        self.config = config or AgentConfig(type=AgentType.HTTP)
        self.events = list(events)
        self.pause = pause
        self.requests: list[AgentRequest] = []

    async def check(self, env: Mapping[str, str]) -> Usability:
        return Usability(True)

    async def run(self, request: AgentRequest) -> AsyncIterator[AgentEvent]:
        self.requests.append(request)
        for event in self.events:
            await asyncio.sleep(self.pause)
            if isinstance(event, Exception):
                raise event
            yield event


class SleepAgent:
    """Streams a line, sleeps ``hours * scale`` seconds (the task's estimate is its known duration), streams
    another line and finishes; records when each run started and ended and how many ran at once."""

    def __init__(self, scale: float, name: str = "sleeper") -> None:
        self.name = name
        self.config = AgentConfig(type=AgentType.SHELL)
        self.scale = scale
        self.spans: dict[str, tuple[float, float]] = {}
        self.active = 0
        self.most_active = 0

    async def check(self, env: Mapping[str, str]) -> Usability:
        return Usability(True)

    async def run(self, request: AgentRequest) -> AsyncIterator[AgentEvent]:
        task = request.task
        started = time.monotonic()
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            yield TextDelta(f"{task.task_id} working\n")
            await asyncio.sleep(task.estimated_hours * self.scale)
            yield TextDelta(f"{task.task_id} done\n")
        finally:
            self.active -= 1
            self.spans[task.task_id] = (started, time.monotonic())
        yield Finished(f"{task.task_id} result")


def agent_tables(*names: str) -> str:
    """``[agents.NAME]`` tables so the plan may name the test agents (which the tests pass to the runner)."""
    return "".join(f'[agents.{name}]\ntype = "http"\n\n' for name in names)
