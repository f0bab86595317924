"""The ``shell`` agent: a task's ``commands`` run one after another in the project root, output streamed.

Each command is ``/bin/sh -c`` in a process group of its own (agents/process.py, which the ``cli`` agent
shares): its output is kept as the bytes it wrote; it ends when the shell exits (what it left running in its
group is stopped); the run's ``timeout`` (one deadline for all the commands) and ``idle_timeout`` fail it;
and a cancelled run or a closed event stream stops the whole group (SIGTERM, then SIGKILL) and reaps it.
When nobody in this process follows the stream (``request.output_fd``: a driver, whose faces read the run's
files), the commands write straight into the run's ``output.txt`` and no text is yielded.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing

from ..models import AgentConfig
from .base import AgentRequest, Usability
from .events import AgentEvent, Failed, Finished, TextDelta
from .process import Decoder, LimitExceeded, Limits, spawn

SHELL = "/bin/sh"


def exit_phrase(returncode: int) -> str:
    """``exited with 2`` or ``was killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with {returncode}"


def shorten(text: str, width: int = 80) -> str:
    """One line of at most ``width`` characters, for messages."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


class ShellAgent:
    """Runs the task's ``commands`` with ``/bin/sh -c``; a non-zero exit fails the run."""

    uses_prompt = False  # the commands are the task: the runner renders no prompt (nor reads dependencies' outputs)
    writes_output = True  # with ``request.output_fd``, its commands write into the run's output file themselves

    def __init__(self, name: str, config: AgentConfig) -> None:
        self.name = name
        self.config = config

    async def check(self, env: Mapping[str, str]) -> Usability:
        if not os.access(SHELL, os.X_OK):
            return Usability(False, f"{SHELL} not found")
        return Usability(True)

    async def run(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        commands = request.task.commands
        if not commands:
            yield Failed(f"task {request.task.task_id} has no commands for the shell agent to run", kind="error")
            return
        limits = Limits.of(self.config, request.task)
        deadline = limits.deadline()
        for number, command in enumerate(commands, 1):
            where = f"command {number} of {len(commands)}"
            try:
                child = await spawn(
                    [SHELL, "-c", command],
                    cwd=request.cwd,
                    env=request.env,
                    limits=limits,
                    deadline=deadline,
                    on_spawn=request.on_spawn,
                    output_fd=request.output_fd,
                )
            except OSError as error:
                yield Failed(f"{where} could not start: {error.strerror or error}", kind="error")
                return
            decoder = Decoder()
            try:
                async with aclosing(child.output()) as chunks:
                    async for data in chunks:
                        yield TextDelta(decoder.decode(data), raw=data)
                returncode = await child.wait()
            except LimitExceeded as exceeded:
                yield Failed(f"{where} {exceeded}: {shorten(command)}", kind="timeout")
                return
            finally:
                await child.close()
            if tail := decoder.decode(b"", final=True):
                yield TextDelta(tail, raw=b"")
            if returncode != 0:
                yield Failed(f"{where} {exit_phrase(returncode)}: {shorten(command)}", kind="exit")
                return
        yield Finished()  # the answer is the output streamed
