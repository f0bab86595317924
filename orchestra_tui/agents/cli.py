"""The ``cli`` agent: a coding-agent program (Claude Code, Codex, anything) run on the task's prompt.

The prompt goes on stdin (``prompt_via = "stdin"``) or as the last argument (``"arg"``). ``output_format``
says how to read stdout:

``text``
    streamed as it arrives; the whole of it is the answer.
``stream-json``
    Claude Code's ``claude -p --output-format stream-json --verbose``: one JSON object per line. Text
    blocks of ``assistant`` messages (or, with ``--include-partial-messages``, the ``stream_event`` text
    deltas instead) are streamed; the final ``{"type": "result", ...}`` line gives the answer
    (``result``), success (``is_error``, ``subtype``), ``usage`` and ``total_cost_usd``.
``jsonl``
    Codex's ``codex exec --json`` events: ``item.completed`` with an ``agent_message`` item is text (the
    last one is the answer), ``turn.completed`` carries usage, ``turn.failed`` and ``error`` fail the run
    (except Codex's own ``Reconnecting... N/M`` notices, which it recovers from).

A line that is not a JSON object is passed through as text; nothing in the output can crash the run. A
non-zero exit fails the run with the last line the program wrote to stderr.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import shutil
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

from ..models import AgentConfig
from .base import AgentRequest, Usability
from .events import AgentEvent, Failed, Finished, TextDelta, UsageUpdate
from .process import DEVNULL, PIPE, Child, Decoder, LimitExceeded, Limits, spawn
from .shell import exit_phrase, shorten

_STDERR_LINES = 50


class CliAgent:
    """Runs ``config.command`` on the prompt and turns its output into events."""

    def __init__(self, name: str, config: AgentConfig) -> None:
        self.name = name
        self.config = config

    async def check(self, env: Mapping[str, str]) -> Usability:
        if not self.config.command:
            return Usability(False, f"agent {self.name!r} has no command configured")
        program = self.config.command[0]
        if os.sep in program:
            found = os.path.isfile(program) and os.access(program, os.X_OK)
            return Usability(True) if found else Usability(False, f"{program} not found or not executable")
        if shutil.which(program, path=env.get("PATH", os.defpath)) is None:
            return Usability(False, f"{program} not found on PATH")
        return Usability(True)

    async def run(self, request: AgentRequest) -> AsyncIterator[AgentEvent]:
        if not self.config.command:
            yield Failed(f"agent {self.name!r} has no command configured", kind="error")
            return
        program = self.config.command[0]
        via_stdin = self.config.prompt_via == "stdin"
        argv = [*self.config.command] if via_stdin else [*self.config.command, request.prompt]
        limits = Limits.of(self.config, request.task)
        try:
            child = await spawn(argv, cwd=request.cwd, env=request.env, limits=limits, stdin=PIPE if via_stdin else DEVNULL,
                                separate_stderr=True, on_spawn=request.on_spawn)
        except OSError as error:
            yield Failed(_start_failure(program, error), kind="error")
            return
        output = _OUTPUTS[self.config.output_format](os.path.basename(program))
        stderr_tail: deque[str] = deque(maxlen=_STDERR_LINES)
        helpers = [asyncio.create_task(_collect(child, stderr_tail))]
        if via_stdin:
            assert child.process.stdin is not None
            helpers.append(asyncio.create_task(_feed(child.process.stdin, request.prompt)))
        decoder = Decoder()
        try:
            async with aclosing(child.output()) as chunks:
                async for data in chunks:
                    for event in output.feed(decoder.decode(data), data):
                        yield event
            for event in output.feed(decoder.decode(b"", final=True), b""):
                yield event
            for event in output.flush():
                yield event
            returncode = await child.wait()
        except LimitExceeded as exceeded:
            yield Failed(f"{program} {exceeded}", kind="timeout")
            return
        finally:
            await child.close()  # also ends the stderr reader
            for helper in helpers:
                if not helper.done():
                    helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        last_stderr = next((line.strip() for line in reversed(stderr_tail) if line.strip()), "")
        yield output.end(returncode, last_stderr)


def _start_failure(program: str, error: OSError) -> str:
    if isinstance(error, FileNotFoundError) and error.filename in (None, program):
        return f"{program} not found" if os.sep in program else f"{program} not found on PATH"
    if error.errno == errno.E2BIG:
        return f"{program}: the prompt is too long for a command-line argument; set prompt_via = \"stdin\""
    return f"{program} could not start: {error.strerror or error}"


async def _collect(child: Child, tail: deque[str]) -> None:
    """Keep the last lines of stderr (for the failure message) while the program runs."""
    decoder, pending = Decoder(), ""
    async for data in child.errors():
        *lines, pending = (pending + decoder.decode(data)).split("\n")
        tail.extend(lines)
        pending = pending[-4096:]
    if pending:
        tail.append(pending)


async def _feed(stdin: asyncio.StreamWriter, prompt: str) -> None:
    """Write the prompt and close stdin; a program that exits without reading it is not an error here."""
    try:
        stdin.write(prompt.encode())
        await stdin.drain()
        stdin.close()
        await stdin.wait_closed()
    except (BrokenPipeError, ConnectionResetError):
        pass


class _Text:
    """``text``: stdout streamed as it is; the whole of it is the answer (``Finished.text`` None: not kept here)."""

    def __init__(self, program: str) -> None:
        self.program = program

    def feed(self, chunk: str, raw: bytes) -> list[AgentEvent]:
        return [TextDelta(chunk, raw=raw)]  # the program's bytes, exactly

    def flush(self) -> list[AgentEvent]:
        return []

    def end(self, returncode: int, last_stderr: str) -> Finished | Failed:
        return _exit_failure(self.program, returncode, last_stderr) or Finished()


def _exit_failure(program: str, returncode: int, last_stderr: str) -> Failed | None:
    if returncode == 0:
        return None
    detail = f": {shorten(last_stderr, 200)}" if last_stderr else ""
    return Failed(f"{program} {exit_phrase(returncode)}{detail}", kind="exit")


class _JsonLines:
    """Base of the JSON-lines readers: splits stdout into lines, passes non-JSON lines through as text."""

    def __init__(self, program: str) -> None:
        self.program = program
        self._pending: list[str] = []
        self._said_any = False

    def feed(self, chunk: str, raw: bytes = b"") -> list[AgentEvent]:
        if "\n" not in chunk:
            self._pending.append(chunk)
            return []
        head, *middle, rest = chunk.split("\n")
        lines = ["".join([*self._pending, head]), *middle]
        self._pending = [rest] if rest else []
        return [event for line in lines for event in self._line(line)]

    def flush(self) -> list[AgentEvent]:
        line, self._pending = "".join(self._pending), []
        return self._line(line)

    def _line(self, line: str) -> list[AgentEvent]:
        if not line.strip():
            return []
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self._said_any = True
            return [TextDelta(line.rstrip("\r") + "\n")]
        return self.event(data)

    def say(self, text: str, *, paragraph: bool) -> list[AgentEvent]:
        """A text delta; a new paragraph after earlier text is set off by a blank line."""
        if not text:
            return []
        if paragraph and self._said_any:
            text = "\n\n" + text
        self._said_any = True
        return [TextDelta(text)]

    def event(self, data: dict[str, Any]) -> list[AgentEvent]:
        raise NotImplementedError

    def end(self, returncode: int, last_stderr: str) -> Finished | Failed:
        raise NotImplementedError


class _ClaudeStreamJson(_JsonLines):
    """``stream-json``: Claude Code's ``--output-format stream-json --verbose`` lines."""

    def __init__(self, program: str) -> None:
        super().__init__(program)
        self._partial = False  # --include-partial-messages: text comes as stream_event deltas
        self._new_block = False
        self._texts: list[str] = []
        self._result: dict[str, Any] | None = None

    def event(self, data: dict[str, Any]) -> list[AgentEvent]:
        kind = data.get("type")
        if data.get("parent_tool_use_id"):
            return []  # a subagent's messages, not the answer
        if kind == "stream_event":
            self._partial = True
            event = _dict(data.get("event"))
            if event.get("type") == "content_block_start":
                self._new_block = True
            delta = _dict(event.get("delta"))
            if event.get("type") == "content_block_delta" and delta.get("type") == "text_delta":
                text = _str(delta.get("text"))
                paragraph, self._new_block = self._new_block, False
                self._texts.append(text)
                return self.say(text, paragraph=paragraph)
            return []
        if kind == "assistant" and not self._partial:
            blocks = _dict(data.get("message")).get("content")
            events: list[AgentEvent] = []
            for block in blocks if isinstance(blocks, list) else []:
                if isinstance(block, dict) and block.get("type") == "text":
                    text = _str(block.get("text"))
                    self._texts.append(text)
                    events += self.say(text, paragraph=True)
            return events
        if kind == "result":
            self._result = data
            usage = _dict(data.get("usage"))
            fresh, output = _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
            cached = (_int(usage.get("cache_creation_input_tokens")) or 0) + (_int(usage.get("cache_read_input_tokens")) or 0)
            cost = data.get("total_cost_usd")
            return [UsageUpdate(
                input_tokens=None if fresh is None else fresh + cached,
                output_tokens=output,
                cost_usd=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
            )]
        return []

    def end(self, returncode: int, last_stderr: str) -> Finished | Failed:
        result = self._result
        if result is not None and (result.get("is_error") is True or result.get("subtype", "success") != "success"):
            errors = result.get("errors")
            detail = (_str(result.get("result")).strip()
                      or ("; ".join(str(item) for item in errors) if isinstance(errors, list) else "")
                      or _str(result.get("subtype")) or "error")
            return Failed(f"{self.program}: {shorten(detail, 300)}", kind="error")
        failure = _exit_failure(self.program, returncode, last_stderr)
        if failure is not None:
            return failure
        if result is None:
            return Failed(f"{self.program} ended without its result line", kind="protocol")
        answer = result.get("result")
        return Finished(
            text=answer if isinstance(answer, str) else "\n\n".join(self._texts),
            stop_reason=_str(result.get("stop_reason")) or None,
        )


# Codex reports its own stream retries as top-level "error" events and then carries on.
_CODEX_RECONNECT = re.compile(r"^Reconnecting\.\.\. \d+/\d+")


class _CodexJsonl(_JsonLines):
    """``jsonl``: ``codex exec --json`` thread events."""

    def __init__(self, program: str) -> None:
        super().__init__(program)
        self._last_message: str | None = None
        self._input = self._output = 0
        self._completed = False
        self._error: str | None = None

    def event(self, data: dict[str, Any]) -> list[AgentEvent]:
        kind = data.get("type")
        if kind == "item.completed":
            item = _dict(data.get("item"))
            if (item.get("type") or item.get("item_type")) in ("agent_message", "assistant_message"):
                self._last_message = _str(item.get("text"))
                return self.say(self._last_message, paragraph=True)
        elif kind == "turn.completed":
            usage = _dict(data.get("usage"))
            self._input += _int(usage.get("input_tokens")) or 0  # cached_input_tokens are a part of these
            self._output += _int(usage.get("output_tokens")) or 0
            self._completed, self._error = True, None
            return [UsageUpdate(input_tokens=self._input, output_tokens=self._output)]
        elif kind == "turn.failed":
            self._error = _str(_dict(data.get("error")).get("message")) or "turn failed"
        elif kind == "error":
            message = _str(data.get("message"))
            if not _CODEX_RECONNECT.match(message):
                self._error = message or "error"
        return []

    def end(self, returncode: int, last_stderr: str) -> Finished | Failed:
        if self._error is not None:
            return Failed(f"{self.program}: {shorten(self._error, 300)}", kind="error")
        failure = _exit_failure(self.program, returncode, last_stderr)
        if failure is not None:
            return failure
        if not self._completed:
            return Failed(f"{self.program} ended without turn.completed", kind="protocol")
        return Finished(text=self._last_message or "")


_OUTPUTS: dict[str, type[_Text | _JsonLines]] = {"text": _Text, "stream-json": _ClaudeStreamJson, "jsonl": _CodexJsonl}


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
