"""The processes the local agents start (``shell``, ``cli``): one process group each, bounded in time, read as bytes.

* Each process leads a new session (``start_new_session``), so its whole group can be stopped. It is not tied to
  orchestra's life (no ``PR_SET_PDEATHSIG``: runs are to outlive their starter, docs/ARCHITECTURE.md C10); the run
  records the group (``on_spawn``) so that a group a dead run left going is found and stopped (engine/runs.py).
* stdout (and stderr, when kept apart) are pipes made here and read through asyncio read transports closed here:
  the process's output ends when the process itself exits, after a short drain (:data:`DRAIN_GAP`, at most
  :data:`DRAIN_MAX`), whatever background children still hold the pipe. What they left in the group is then
  stopped (SIGTERM, SIGKILL a moment later); a child that made its own session (``setsid``) is not followed.
  With ``output_fd`` (nobody in this process follows the stream) stdout and stderr are that file itself: no pipe,
  no transport, nothing to read here; the process is done when it exits, and the file's last write counts as
  activity for ``idle_timeout``.
* Limits (:class:`Limits`): a wall-clock ``timeout`` and an ``idle_timeout`` (no byte on stdout or stderr for that
  long), per agent and per task. Exceeding one, a cancellation or a close of the agent's stream ends the group:
  SIGTERM, then SIGKILL after :data:`GRACE` seconds, and the leader is reaped.
* Output is bytes, exactly as written (``output.txt`` keeps them); decoding is for display only (:class:`Decoder`).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any, Protocol

from ..formatting import duration
from ..models import AgentConfig, AgentTask, AgentType

DEFAULT_TIMEOUT = {AgentType.SHELL: 1800.0, AgentType.CLI: 3600.0}
"""Seconds a run may take, by agent type, unless the agent or the task sets ``timeout`` (0: no limit)."""
DEFAULT_IDLE_TIMEOUT = 600.0
"""Seconds a run may go without any output, unless the agent or the task sets ``idle_timeout`` (0: no limit)."""
GRACE = 2.0
"""Seconds a stopped process group gets between SIGTERM and SIGKILL."""
DRAIN_GAP = 0.25
"""After the process exits, its output is read until the pipe is quiet this long (or closed)..."""
DRAIN_MAX = 2.0
"""...but no longer than this."""
LEFTOVER_GRACE = 0.2
"""Seconds what a finished command left in its group gets between SIGTERM and SIGKILL."""
READ_SIZE = 65536
DEVNULL = asyncio.subprocess.DEVNULL
PIPE = asyncio.subprocess.PIPE


class LimitExceeded(Exception):
    """A run went past its ``timeout`` or ``idle_timeout``; ``str()`` says which, for the task's reason."""


@dataclass(frozen=True)
class Limits:
    """A run's limits in seconds (None: none). The task's own values win over the agent's, which win over the
    defaults; 0 means no limit."""

    timeout: float | None
    idle_timeout: float | None

    @classmethod
    def of(cls, config: AgentConfig, task: AgentTask) -> Limits:
        def pick(own: float | None, agent: float | None, default: float | None) -> float | None:
            value = own if own is not None else agent if agent is not None else default
            return value or None

        return cls(
            pick(task.timeout, config.timeout, DEFAULT_TIMEOUT.get(config.type)),
            pick(task.idle_timeout, config.idle_timeout, DEFAULT_IDLE_TIMEOUT),
        )

    def deadline(self) -> float | None:
        """The monotonic time the whole run must end by (one deadline for all of a shell task's commands)."""
        return None if self.timeout is None else time.monotonic() + self.timeout


class Decoder:
    """UTF-8 for display, with replacement, a character never split between two pieces."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, data: bytes, final: bool = False) -> str:
        return self._decoder.decode(data, final)


class Child:
    """A started process group: read :meth:`output` (and :meth:`errors`), then :meth:`close` it."""

    def __init__(
        self,
        process: _Process,
        pipes: list[tuple[asyncio.StreamReader, asyncio.BaseTransport]],
        limits: Limits,
        deadline: float | None,
        output_fd: int | None = None,
    ) -> None:
        self.process = process
        self.pid = process.pid
        self._stdout = pipes[0][0] if pipes else None
        self._stderr = pipes[1][0] if len(pipes) > 1 else None
        self._file = output_fd  # stdout and stderr go straight into this file (no pipe)
        self._transports = [transport for _reader, transport in pipes]
        self._limits = limits
        self._deadline = deadline
        self._last = time.monotonic()  # the last byte seen on stdout or stderr
        self._exit = asyncio.ensure_future(process.wait())

    async def output(self) -> AsyncGenerator[bytes]:
        """stdout as it arrives, until it closes or the process has exited and the pipe drained. Raises
        :class:`LimitExceeded` when a limit is passed (the caller's ``close`` then stops the group). With the output
        going straight to a file: nothing, once the process has exited."""
        if self._stdout is None:
            await self._exited()
            return
        reading: asyncio.Future[bytes] | None = None
        exited: float | None = None
        try:
            while True:
                if reading is None:
                    reading = asyncio.ensure_future(self._stdout.read(READ_SIZE))
                waiting: set[asyncio.Future[Any]] = {reading} if exited is not None else {reading, self._exit}
                done, _ = await asyncio.wait(waiting, timeout=self._wait(exited), return_when=asyncio.FIRST_COMPLETED)
                if reading in done:
                    data, reading = reading.result(), None
                    if not data:
                        return
                    self._last = time.monotonic()
                    yield data
                elif self._exit in done and exited is None:
                    exited = time.monotonic()
                elif exited is not None:
                    now = time.monotonic()
                    if now - max(exited, self._last) >= DRAIN_GAP or now - exited >= DRAIN_MAX:
                        return  # the process is gone; whatever still holds the pipe is not waited for
                else:
                    self._check_limits()
        finally:
            if reading is not None:
                reading.cancel()

    async def _exited(self) -> None:
        """Until the process exits, checking the limits; what it wrote to its file counts as activity."""
        while not self._exit.done():
            await asyncio.wait((self._exit,), timeout=self._wait(None))
            if not self._exit.done():
                self._written()
                self._check_limits()

    def _written(self) -> None:
        """The file's last write (its modification time, on the monotonic clock) as the last output seen."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                age = time.time() - os.fstat(self._file).st_mtime
                self._last = max(self._last, time.monotonic() - max(0.0, age))

    def _wait(self, exited: float | None) -> float | None:
        """Seconds until the next limit or drain check."""
        now = time.monotonic()
        if exited is not None:
            return max(0.0, min(max(exited, self._last) + DRAIN_GAP, exited + DRAIN_MAX) - now)
        ends = [self._deadline] if self._deadline is not None else []
        if self._limits.idle_timeout is not None:
            ends.append(self._last + self._limits.idle_timeout)
        return max(0.0, min(ends) - now) if ends else None

    def _check_limits(self) -> None:
        now = time.monotonic()
        if self._deadline is not None and now >= self._deadline and self._limits.timeout is not None:
            raise LimitExceeded(f"timed out after {duration(self._limits.timeout)}")
        idle = self._limits.idle_timeout
        if idle is not None and now - self._last >= idle:
            raise LimitExceeded(f"no output for {duration(idle)}")

    async def errors(self) -> AsyncIterator[bytes]:
        """stderr as it arrives (it counts as activity for ``idle_timeout``), until it closes or :meth:`close`."""
        if self._stderr is None:
            return
        while data := await self._stderr.read(READ_SIZE):
            self._last = time.monotonic()
            yield data

    async def wait(self) -> int:
        return await asyncio.shield(self._exit)

    async def close(self) -> None:
        """End the group and release the pipes. A process still running is stopped (SIGTERM, SIGKILL after
        :data:`GRACE`); what an exited one left in its group gets :data:`LEFTOVER_GRACE`. Safe to call twice."""
        try:
            if self.process.returncode is None:
                _signal_group(self.pid, signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._exit), GRACE)
                _signal_group(self.pid, signal.SIGKILL)
                await asyncio.shield(self._exit)
            elif _signal_group(self.pid, signal.SIGTERM):
                deadline = time.monotonic() + LEFTOVER_GRACE
                while _signal_group(self.pid, 0) and time.monotonic() < deadline:  # bounded by the grace
                    await asyncio.sleep(0.02)
                _signal_group(self.pid, signal.SIGKILL)
        finally:
            for transport in self._transports:
                transport.close()
            if self.process.stdin is not None:
                self.process.stdin.close()


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the group; False when it has no member left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


async def _pipe() -> tuple[int, asyncio.StreamReader, asyncio.BaseTransport]:
    """A pipe whose read end is an asyncio transport (closed by :meth:`Child.close`); returns the write end too."""
    read_fd, write_fd = os.pipe()
    try:
        reader = asyncio.StreamReader(limit=READ_SIZE)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )
    except BaseException:
        os.close(write_fd)
        raise
    return write_fd, reader, transport


class _Process(Protocol):
    pid: int

    @property
    def returncode(self) -> int | None: ...

    @property
    def stdin(self) -> asyncio.StreamWriter | None: ...

    async def wait(self) -> int: ...


_Popened = tuple[Popen[bytes], Exception | None]


def _popen(
    argv: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    stdin: int,
    stdout: int,
    stderr: int,
    on_spawn: Callable[[int], None] | None,
) -> _Popened:
    """Start the process and, in the same worker thread, tell ``on_spawn`` (the run records the group: a ``/proc``
    read and two file writes the event loop need not do). What ``on_spawn`` raised comes back beside the process."""
    popen = Popen(list(argv), cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True)
    if on_spawn is not None:
        try:
            on_spawn(popen.pid)
        except Exception as error:
            return popen, error
    return popen, None


def _stop_started(starting: asyncio.Future[_Popened]) -> None:
    if not starting.cancelled() and starting.exception() is None:
        _signal_group(starting.result()[0].pid, signal.SIGKILL)


class _Started:
    """A process started in a worker thread (``fork``/``exec`` take ~10 ms of a loaded machine, which the event
    loop spends on other runs meanwhile); its exit is awaited through a pidfd, so no thread waits for it."""

    stdin = None

    def __init__(self, popen: Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    async def wait(self) -> int:
        if self.popen.poll() is not None:
            return self.popen.returncode
        try:
            fd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfd (an old kernel): a thread waits
            return await asyncio.to_thread(self.popen.wait)
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(fd, readable)
        try:
            if self.popen.poll() is None:
                await exited
        finally:
            loop.remove_reader(fd)
            os.close(fd)
        return self.popen.wait()


async def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    limits: Limits,
    deadline: float | None = None,
    stdin: int = DEVNULL,
    separate_stderr: bool = False,
    on_spawn: Callable[[int], None] | None = None,
    output_fd: int | None = None,
) -> Child:
    """Start ``argv`` as the leader of a new session, stdout piped (stderr merged into it unless ``separate_stderr``),
    or both straight into ``output_fd`` (a file open for appending; not with ``stdin`` PIPE nor ``separate_stderr``).

    The executable is looked up on ``env``'s PATH; ``deadline`` (monotonic) defaults to ``limits.deadline()``.
    ``on_spawn(pid)`` is called at once (the run records the group), in the thread that started the process when
    one did; what it raises stops the process and is raised here. Raises OSError when it cannot start."""
    recording: Exception | None = None
    pipes = [] if output_fd is not None else [await _pipe()]
    try:
        if separate_stderr:
            pipes.append(await _pipe())
        stdout = output_fd if output_fd is not None else pipes[0][0]
        stderr = pipes[1][0] if separate_stderr else stdout
        try:
            if stdin == PIPE:  # the prompt goes through asyncio's own stdin transport
                process: _Process = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=cwd,
                    env=dict(env),
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,
                )
            else:
                # (run_in_executor, not to_thread: a task of its own cost two more turns of the loop per start)
                starting = asyncio.get_running_loop().run_in_executor(
                    None, _popen, argv, cwd, dict(env), stdin, stdout, stderr, on_spawn
                )
                try:
                    popen, recording = await asyncio.shield(starting)
                    process, on_spawn = _Started(popen), None  # (told in the thread)
                except asyncio.CancelledError:
                    starting.add_done_callback(_stop_started)  # cancelled while the thread started it
                    with contextlib.suppress(asyncio.CancelledError):  # it may be writing to the run's files:
                        await asyncio.wait((starting,))  # the run closes them only once it is done
                    raise
        finally:
            for write_fd, _reader, _transport in pipes:
                os.close(write_fd)
    except BaseException:
        for _fd, _reader, transport in pipes:
            transport.close()
        raise
    child = Child(
        process,
        [(reader, transport) for _fd, reader, transport in pipes],
        limits,
        limits.deadline() if deadline is None else deadline,
        output_fd,
    )
    try:
        if recording is not None:
            raise recording
        if on_spawn is not None:
            on_spawn(process.pid)
    except BaseException:
        await child.close()
        raise
    return child
