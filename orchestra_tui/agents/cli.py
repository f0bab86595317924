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
    (except Codex's own ``Reconnecting...`` notices, which are its retries).

Whatever the format, a run succeeds only when the program exits 0 with a non-empty answer.
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
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any, TypeGuard

from ..models import AgentConfig
from .api_errors import ErrorInfo, classify, error_info, one_line
from .base import AgentRequest, Usability
from .events import AgentEvent, Failed, Finished, Retrying, TextDelta, UsageUpdate
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

    async def run(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        if not self.config.command:
            yield Failed(f"agent {self.name!r} has no command configured", kind="error")
            return
        program = self.config.command[0]
        via_stdin = self.config.prompt_via == "stdin"
        argv = [*self.config.command] if via_stdin else [*self.config.command, request.prompt]
        limits = Limits.of(self.config, request.task)
        try:
            child = await spawn(
                argv,
                cwd=request.cwd,
                env=request.env,
                limits=limits,
                stdin=PIPE if via_stdin else DEVNULL,
                separate_stderr=True,
                on_spawn=request.on_spawn,
            )
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
            if tail := decoder.decode(b"", final=True):  # an incomplete character at the very end
                for event in output.feed(tail, b""):
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
        return f'{program}: the prompt is too long for a command-line argument; set prompt_via = "stdin"'
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
        self._said = False  # anything but white space

    def feed(self, chunk: str, raw: bytes) -> list[AgentEvent]:
        self._said = self._said or not chunk.isspace()
        return [TextDelta(chunk, raw=raw)]  # the program's bytes, exactly

    def flush(self) -> list[AgentEvent]:
        return []

    def end(self, returncode: int, last_stderr: str) -> Finished | Failed:
        failure = _exit_failure(self.program, returncode, last_stderr)
        if failure is None and not self._said:
            failure = Failed(f"{self.program}: empty answer", kind="empty")
        return failure or Finished()


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
    """``stream-json``: Claude Code's ``--output-format stream-json --verbose`` lines.

    Claude Code reports an API failure as a made-up assistant message (``"model": "<synthetic>"``, text
    ``API Error: ...``) with an ``error`` kind, then a result line with ``api_error_status``: that message is
    the failure's detail, never streamed as the answer. Its own retries (``system``/``api_retry``) are
    shown as retries. A result with ``is_error`` fails whatever its ``subtype`` says; one with
    ``permission_denials`` fails ``denied: Bash(...)`` (what the task asked for was not done).
    """

    def __init__(self, program: str) -> None:
        super().__init__(program)
        self._partial = False  # --include-partial-messages: text comes as stream_event deltas
        self._new_block = False
        self._texts: list[str] = []
        self._result: dict[str, Any] | None = None
        self._api_error: dict[str, Any] | None = None  # the synthetic message of the last API failure

    def event(self, data: dict[str, Any]) -> list[AgentEvent]:
        kind = data.get("type")
        if data.get("parent_tool_use_id"):
            return []  # a subagent's messages, not the answer
        if kind == "stream_event":
            return self._stream_event(_dict(data.get("event")))
        if kind == "system" and data.get("subtype") == "api_retry":
            return [self._retry(data)]
        if kind == "assistant" and _is_api_error(data):
            self._api_error = data
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
            return [self._usage(data)]
        return []

    def _stream_event(self, event: dict[str, Any]) -> list[AgentEvent]:
        self._partial = True
        if event.get("type") == "content_block_start":
            self._new_block = True
        delta = _dict(event.get("delta"))
        if event.get("type") == "content_block_delta" and delta.get("type") == "text_delta":
            text = _str(delta.get("text"))
            paragraph, self._new_block = self._new_block, False
            self._texts.append(text)
            return self.say(text, paragraph=paragraph)
        return []

    def _retry(self, data: dict[str, Any]) -> Retrying:
        kind = _claude_kind(data.get("error"), data.get("error_status"))
        attempt = _int(data.get("attempt")) or 1
        delay = data.get("retry_delay_ms")
        reason = f"{self.program}: {_phrase(kind, data.get('error_status'))}"
        return Retrying(attempt, delay / 1000 if _number(delay) else None, reason)

    @staticmethod
    def _usage(data: dict[str, Any]) -> UsageUpdate:
        usage = _dict(data.get("usage"))
        fresh, output = _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
        written, read = _int(usage.get("cache_creation_input_tokens")), _int(usage.get("cache_read_input_tokens"))
        cost = data.get("total_cost_usd")
        return UsageUpdate(
            input_tokens=None if fresh is None else fresh + (written or 0) + (read or 0),
            output_tokens=output,
            cost_usd=float(cost) if _number(cost) else None,
            cache_read_tokens=read,
            cache_write_tokens=written,
        )

    def end(self, returncode: int, last_stderr: str) -> Finished | Failed:
        result = self._result
        if result is not None and (result.get("is_error") is True or result.get("subtype", "success") != "success"):
            return self._failure(result)
        failure = _exit_failure(self.program, returncode, last_stderr)
        if failure is not None:
            return failure
        if result is None:
            return Failed(f"{self.program} ended without its result line", kind="protocol")
        denials = result.get("permission_denials")
        if isinstance(denials, list) and denials:
            return Failed(
                f"{self.program}: denied: {shorten(', '.join(map(_denial, denials)), 300)}", kind="permission"
            )
        answer = result.get("result")
        text = answer if isinstance(answer, str) else "\n\n".join(self._texts)
        if not text.strip():
            return Failed(f"{self.program}: empty answer", kind="empty")
        return Finished(text=text, stop_reason=_str(result.get("stop_reason")) or None)

    def _failure(self, result: dict[str, Any]) -> Failed:
        synthetic = self._api_error or {}
        status = result.get("api_error_status", synthetic.get("api_error_status"))
        if result.get("subtype") == "error_max_turns":
            kind = "max_turns"
        else:
            kind = _claude_kind(
                synthetic.get("error"),
                status,
                result.get("api_error") or synthetic.get("api_error"),
                result.get("api_error_type") or synthetic.get("api_error_type"),
            )
        errors = result.get("errors")
        detail = (
            _str(result.get("result")).strip()
            or ("; ".join(str(item) for item in errors) if isinstance(errors, list) else "")
            or _str(result.get("subtype"))
            or "error"
        )
        detail = detail.removeprefix("API Error: ")
        phrase = _phrase(kind, status)
        return Failed(f"{self.program}: {phrase + ': ' if phrase else ''}{shorten(detail, 300)}", kind=kind)


def _is_api_error(data: dict[str, Any]) -> bool:
    """Claude Code's stand-in for an answer when the API failed: not the model's words."""
    return data.get("is_api_error_message") is True or _dict(data.get("message")).get("model") == "<synthetic>"


# Claude Code's error kinds (its SDK's ``SDKAssistantMessageError``) -> orchestra's.
_CLAUDE_KINDS = {
    "authentication_failed": "auth",
    "oauth_org_not_allowed": "auth",
    "account_on_hold": "auth",
    "verification_required": "auth",
    "cloud_credential_error": "auth",
    "billing_error": "quota",
    "rate_limit": "rate_limit",
    "overloaded": "overloaded",
    "server_error": "server",
    "max_output_tokens": "truncated",
}


def _claude_kind(error: object, status: object, api_error: object = None, api_error_type: object = None) -> str:
    """orchestra's kind for a Claude Code failure: from the HTTP status and the API's error type when they say
    more than "server error" (a 529 comes as ``server_error``), else from Claude Code's own ``error`` kind."""
    if api_error == "connection_failed":
        return "connection"
    by_status = "error"
    if _int(status) is not None or _str(api_error_type):
        by_status, _ = classify(_int(status), ErrorInfo(type=_str(api_error_type) or None))
    if by_status not in ("error", "server"):
        return by_status
    return _CLAUDE_KINDS.get(_str(error)) or by_status


_PHRASES = {
    "auth": "authentication failed",
    "quota": "usage limit reached",
    "rate_limit": "rate limited",
    "overloaded": "overloaded",
    "server": "server error",
    "connection": "connection failed",
    "max_turns": "max turns reached",
    "truncated": "truncated at max_tokens",
}


def _phrase(kind: str, status: object = None) -> str:
    """What happened, in words: ``rate limited (HTTP 429)``; empty for a kind without words of its own."""
    phrase = _PHRASES.get(kind, "")
    if _int(status) is not None:
        phrase = f"{phrase or 'error'} (HTTP {status})"
    return phrase


def _denial(denial: object) -> str:
    """``Bash(touch out.txt)``: the tool and what it was asked to do."""
    denial = _dict(denial)
    name = _str(denial.get("tool_name")) or "tool"
    arguments = _dict(denial.get("tool_input"))
    target = next(
        (value for key in ("command", "file_path", "path", "url", "pattern") if (value := _str(arguments.get(key)))), ""
    )
    return f"{name}({shorten(target, 120)})" if target else name


# Codex reports its own stream retries as top-level "error" events (``Reconnecting... 2/5 (why)``, or
# ``Reconnecting... waiting for network (why)`` without a count) and then carries on.
_CODEX_RECONNECT = re.compile(
    r"^Reconnecting\.\.\.\s*(?:(?P<attempt>\d+)/\d+)?\s*(?:waiting for network)?\s*(?:\((?P<why>.*)\))?\s*$", re.S
)
_CODEX_STATUS = re.compile(r"\b(?:unexpected status|last status:?) (\d{3})\b")


class _CodexJsonl(_JsonLines):
    """``jsonl``: ``codex exec --json`` thread events."""

    def __init__(self, program: str) -> None:
        super().__init__(program)
        self._last_message: str | None = None
        self._input = self._output = self._cached = 0
        self._completed = False
        self._error: str | None = None
        self._retries = 0

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
            self._cached += _int(usage.get("cached_input_tokens")) or 0  # priced at the cache-read rate
            self._output += _int(usage.get("output_tokens")) or 0
            self._completed, self._error = True, None
            return [UsageUpdate(input_tokens=self._input, output_tokens=self._output, cache_read_tokens=self._cached)]
        elif kind == "turn.failed":
            self._error = _str(_dict(data.get("error")).get("message")) or "turn failed"
        elif kind == "error":
            message = _str(data.get("message"))
            reconnect = _CODEX_RECONNECT.match(message)
            if reconnect is None:
                self._error = message or "error"
                return []
            self._retries += 1
            attempt = int(reconnect["attempt"]) if reconnect["attempt"] else self._retries
            return [Retrying(attempt, None, _codex_failure(self.program, reconnect["why"] or message).message)]
        return []

    def end(self, returncode: int, last_stderr: str) -> Finished | Failed:
        if self._error is not None:
            return _codex_failure(self.program, self._error)
        failure = _exit_failure(self.program, returncode, last_stderr)
        if failure is not None:
            return failure
        if not self._completed:
            return Failed(f"{self.program} ended without turn.completed", kind="protocol")
        if not (self._last_message or "").strip():
            return Failed(f"{self.program}: empty answer", kind="empty")
        return Finished(text=self._last_message)


def _codex_failure(program: str, message: str) -> Failed:
    """A Codex error message as a failure: an HTTP error body Codex passes on verbatim (a JSON string) is
    read for its message, and the kind comes from the status or the words Codex uses."""
    try:
        document = json.loads(message)
    except ValueError:
        document = None
    info = error_info(document) if isinstance(document, dict | list) else ErrorInfo(one_line(message))
    status = _CODEX_STATUS.search(message)
    kind, _ = classify(int(status[1]) if status else None, info)
    lowered = info.message.lower()
    if kind == "error":
        if "at capacity" in lowered or "high demand" in lowered or "overloaded" in lowered:
            kind = "overloaded"
        elif "stream disconnected" in lowered or "connection failed" in lowered or "error sending request" in lowered:
            kind = "connection"
    phrase = _PHRASES.get(kind, "")
    detail = info.message or "error"
    if info.type and info.type not in detail:
        detail = f"{info.type}: {detail}"
    if phrase and phrase not in lowered:
        detail = f"{phrase}: {detail}"
    return Failed(f"{program}: {shorten(detail, 300)}", kind=kind)


_OUTPUTS: dict[str, type[_Text | _JsonLines]] = {"text": _Text, "stream-json": _ClaudeStreamJson, "jsonl": _CodexJsonl}


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
