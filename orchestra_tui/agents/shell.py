"""The ``shell`` agent: a task's ``commands`` run one after another in the project root, output streamed.

Also the subprocess plumbing the ``cli`` agent shares. Every run gets its own process group
(``start_new_session``), so that when the run is cancelled or its event stream is closed, the whole group
(the shell and everything it started) gets SIGTERM, then SIGKILL after :data:`GRACE` seconds, and is
reaped: nothing keeps running and no zombie is left.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import signal
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

from ..models import AgentConfig
from .base import AgentRequest, Usability
from .events import AgentEvent, Failed, Finished, TextDelta

SHELL = "/bin/sh"
GRACE = 2.0
"""Seconds a cancelled process group gets between SIGTERM and SIGKILL."""

_READ_SIZE = 65536
PIPE = asyncio.subprocess.PIPE
DEVNULL = asyncio.subprocess.DEVNULL
STDOUT = asyncio.subprocess.STDOUT


async def spawn(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], stdin: int | IO[bytes] = DEVNULL, stderr: int = STDOUT
) -> asyncio.subprocess.Process:
    """Start ``argv`` as the leader of a new process group, stdout piped (stderr merged into it by default).

    The executable is looked up on ``env``'s PATH. Raises OSError when it cannot start.
    """
    return await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=dict(env), stdin=stdin, stdout=PIPE, stderr=stderr, start_new_session=True
    )


@asynccontextmanager
async def supervised(process: asyncio.subprocess.Process) -> AsyncIterator[asyncio.subprocess.Process]:
    """Kill ``process``'s whole group if the block is left by an exception, a cancellation or a close."""
    try:
        yield process
    except BaseException:
        await kill_group(process)
        raise


async def kill_group(process: asyncio.subprocess.Process, grace: float = GRACE) -> None:
    """SIGTERM the group, SIGKILL what is left after ``grace`` seconds, and reap the leader."""
    _signal_group(process, signal.SIGTERM)
    try:
        if process.returncode is None:
            await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        pass
    finally:
        _signal_group(process, signal.SIGKILL)  # members that ignored SIGTERM or outlived the leader
    await process.wait()


def _signal_group(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


async def read_text(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    """Decoded text as it arrives: UTF-8 with replacement, a character never split between two pieces."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while chunk := await stream.read(_READ_SIZE):
        if text := decoder.decode(chunk):
            yield text
    if tail := decoder.decode(b"", final=True):
        yield tail


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

    def __init__(self, name: str, config: AgentConfig) -> None:
        self.name = name
        self.config = config

    async def check(self, env: Mapping[str, str]) -> Usability:
        if not os.access(SHELL, os.X_OK):
            return Usability(False, f"{SHELL} not found")
        return Usability(True)

    async def run(self, request: AgentRequest) -> AsyncIterator[AgentEvent]:
        commands = request.task.commands
        if not commands:
            yield Failed(f"task {request.task.task_id} has no commands for the shell agent to run", kind="error")
            return
        for number, command in enumerate(commands, 1):
            where = f"command {number} of {len(commands)}"
            try:
                process = await spawn([SHELL, "-c", command], cwd=request.cwd, env=request.env)
            except OSError as error:
                yield Failed(f"{where} could not start: {error.strerror or error}", kind="error")
                return
            async with supervised(process):
                assert process.stdout is not None
                async for text in read_text(process.stdout):
                    yield TextDelta(text)
                returncode = await process.wait()
            if returncode != 0:
                yield Failed(f"{where} {exit_phrase(returncode)}: {shorten(command)}", kind="exit")
                return
        yield Finished()  # the answer is the output streamed
