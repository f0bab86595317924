"""What every HTTP agent shares: one httpx client per process and event loop, timeouts, retries, errors.

A provider module subclasses :class:`StreamingAgent` with the request it sends, a stream decoder, and the
URL its ``check`` probes; the retry loop, the classification of failures and the redaction of the key
live here, once.

Decisions a caller relies on:

* Timeouts: connect 10 s; ``config.read_timeout`` is the longest gap allowed between two chunks
  (httpx's read timeout is per read, which is exactly that gap).
* Attempts: up to ``config.max_attempts``. Retried: HTTP 408, 409, 429 (not ``insufficient_quota``),
  5xx and 529, overload/rate-limit/server error events inside a stream, connection errors, read gaps,
  and streams that end without their terminal event -- but only while no text has been yielded, so a
  retry never repeats text. Delays: ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date) or
  Gemini's ``RetryInfo.retryDelay`` when given (capped), else exponential backoff with jitter.
  ``x-should-retry`` overrides the decision, as in the official SDKs.
* A run succeeds only when the stream ended normally with a non-empty answer. The decoder's ``finish``
  fails a cut-off (``truncated at max_tokens``), refused, tool-calling or otherwise stopped answer
  (:func:`bad_ending`), and an answer of no text fails as ``empty answer``; none of these is retried,
  and the text they streamed stays in the run's output.
* Each retry yields :class:`Retrying` (``attempt`` is the number of the attempt that failed); every attempt
  is logged on the ``orchestra_tui.agents`` logger. Messages are one line, carry the provider's own
  message and the HTTP status, and have the key (and any long piece of it) replaced by ``[redacted]``.
* Cancelling the consuming task (or ``aclose()`` on the stream) closes the HTTP response; the stream then
  ends with the cancellation, not with a final event.

SSE is decoded by httpx-sse: ``bench/bench_agents.py`` reads about 250,000 OpenAI chunks/s through it, as fast as
a hand-written bytes splitter tried when choosing, so the library is kept. NDJSON and the generic ``http`` type
split the raw bytes on ``\\n`` themselves, since JSON lines must not be split on the other Unicode line breaks
``aiter_lines`` honours.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import httpx
from httpx_sse import EventSource, SSEError

from ..models import AgentConfig
from ..redaction import redact as redact_secrets
from ..redaction import redact_key, register
from ..retry import backoff, seconds_from_now
from ..version import __version__
from .api_errors import ErrorInfo, classify, error_info, error_info_from_body, one_line
from .base import AgentRequest, Usability
from .events import AgentEvent, Failed, Finished, Retrying, TextBuffer, TextDelta

log = logging.getLogger("orchestra_tui.agents")

CONNECT_TIMEOUT = 10.0
CHECK_TIMEOUT = 3.0
_ERROR_BODY_LIMIT = 64 * 1024

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()
_clients_pid = os.getpid()


def http_client() -> httpx.AsyncClient:
    """The process's client for the running event loop (created on first use; connections are reused)."""
    global _clients_pid
    if os.getpid() != _clients_pid:  # a forked child must not share its parent's sockets
        _clients.clear()
        _clients_pid = os.getpid()
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=CONNECT_TIMEOUT),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            headers={"user-agent": f"orchestra-tui/{__version__}"},
        )
        _clients[loop] = client
    return client


async def close_http_client() -> None:
    """Close the running loop's client (call once when the engine shuts down)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: ``min(base * 2**(n-1), cap)`` less up to 25% jitter; a server's hint wins up to
    ``hint_cap``."""

    base: float = 0.5
    cap: float = 8.0
    hint_cap: float = 60.0

    def delay(self, attempt: int, hint: float | None = None) -> float:
        if hint is not None:
            return min(max(hint, 0.0), self.hint_cap)
        return backoff(attempt, self.base, self.cap, jitter=(0.75, 1.0))


DEFAULT_BACKOFF = Backoff()


class AttemptError(Exception):
    """One attempt failed; ``retryable`` says whether another attempt may help."""

    def __init__(self, message: str, kind: str, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message, self.kind, self.retryable, self.retry_after = message, kind, retryable, retry_after


def stream_error(provider: str, error: Any) -> AttemptError:
    """An error event inside a 200 stream (``error`` is the payload's ``error`` value or the whole payload)."""
    info = error_info({"error": error})
    status = info.code if isinstance(info.code, int) and 100 <= info.code < 600 else None
    kind, retryable = classify(status, info)
    label = f"{info.type}: " if info.type and info.type not in info.message else ""
    return AttemptError(
        f"{provider}: error in stream: {label}{info.message or 'no message'}", kind, retryable, info.retry_delay
    )


def redact(text: str, secret: str | None) -> str:
    """The key, and any word of 8+ characters of ``[A-Za-z0-9_-]`` that is a piece of it, by ``[redacted]``; then
    every other registered secret by its ``${VAR}`` (:mod:`..redaction`)."""
    return redact_secrets(redact_key(text, secret))


def retry_hint(headers: Mapping[str, str], info: ErrorInfo) -> float | None:
    if (ms := seconds_from_now(headers.get("retry-after-ms"))) is not None:
        return ms / 1000
    if (seconds := seconds_from_now(headers.get("retry-after"))) is not None:
        return seconds
    return info.retry_delay


def http_error(
    provider: str, status: int, headers: Mapping[str, str], body: bytes, key_env: str | None
) -> AttemptError:
    info = error_info_from_body(body)
    kind, retryable = classify(status, info)
    should = headers.get("x-should-retry", "").lower()
    if should in ("true", "false"):
        retryable = should == "true"
    hint = {
        "auth": (f"authentication failed (check {key_env})" if key_env else "authentication failed")
        if status != 403
        else "permission denied",
        "quota": "quota exhausted (check the account's billing)",
        "rate_limit": "rate limited",
        "overloaded": "overloaded",
    }.get(kind)
    message = (
        f"{provider}: HTTP {status}" + (f" {hint}" if hint else "") + (f": {info.message}" if info.message else "")
    )
    return AttemptError(message, kind, retryable, retry_hint(headers, info))


@dataclass(frozen=True)
class Call:
    """One HTTP request of a run."""

    url: str
    headers: dict[str, str]
    body: Any


class Decoder:
    """Turns a stream's payloads into events; one per attempt.

    ``feed`` gets an SSE event's data (str) or one line (bytes) and returns events (raising
    :class:`AttemptError` for an error event); ``finish`` returns the stop reason at the end of the
    stream, or raises when the stream did not end properly or its answer ended badly (:func:`bad_ending`).
    """

    def feed(self, payload: Any) -> Iterable[AgentEvent]:
        raise NotImplementedError

    def finish(self) -> str | None:
        raise NotImplementedError


class TerminatedDecoder(Decoder):
    """A decoder for a stream that must end with a terminal event (``terminal`` names it for the error).

    ``feed`` sets ``done`` when it sees that event; a stream that ends before it is an error, not a success.
    """

    provider = ""
    terminal = ""

    def __init__(self) -> None:
        self.done = False
        self.stop_reason: str | None = None

    def finish(self) -> str | None:
        if not self.done:
            raise ended_early(self.provider, self.terminal)
        return self.stop_reason


def parse_json(provider: str, payload: str | bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        raise AttemptError(f"{provider}: unreadable stream payload: {one_line(text, 120)}", "protocol") from None


def ended_early(provider: str, terminal: str) -> AttemptError:
    return AttemptError(f"{provider}: the stream ended without {terminal}", "protocol", retryable=True)


_ENDINGS = {
    "truncated": "truncated at max_tokens",
    "refused": "refused by the model",
    "tool_call": "stopped to call a tool",
    "stopped": "stopped before the answer was complete",
}


def bad_ending(provider: str, kind: str, detail: str) -> AttemptError:
    """A stream that ended properly with no usable answer (``kind``: a key of ``_ENDINGS``); never retried."""
    return AttemptError(f"{provider}: {_ENDINGS[kind]} ({one_line(detail, 200)})", kind)


class StreamingAgent:
    """The shared run loop and check of the HTTP agents (constructed as ``Cls(name, config)``)."""

    provider: ClassVar[str]
    default_base_url: ClassVar[str | None] = None
    framing: ClassVar[Literal["sse", "lines", "text"]] = "sse"
    needs_model: ClassVar[bool] = True
    #: The probe reads a model listing, which some working servers do not have (LiteLLM's Gemini route has
    #: no ``/v1beta/models``): a 404 or 405 to it says nothing about the endpoint that runs tasks.
    probe_lists: ClassVar[bool] = True

    def __init__(self, name: str, config: AgentConfig, *, backoff: Backoff = DEFAULT_BACKOFF) -> None:
        self.name = name
        self.config = config
        self.backoff = backoff

    # -- what a provider defines
    @property
    def key_env(self) -> str | None:
        """The environment variable holding the key; None when the endpoint needs none."""
        return self.config.api_key_env

    def build(self, request: AgentRequest, key: str | None) -> Call:
        raise NotImplementedError

    def decoder(self) -> Decoder:
        raise NotImplementedError

    def probe(self, key: str | None) -> tuple[str, str, dict[str, str]]:
        """(method, url, headers) of the cheap request ``check`` sends."""
        raise NotImplementedError

    def probe_result(self, response: httpx.Response) -> str | None:
        """A reason the endpoint is not usable despite answering 2xx (e.g. model not pulled), else None."""
        return None

    # -- shared helpers
    @property
    def base_url(self) -> str:
        return (self.config.base_url or self.default_base_url or "").rstrip("/")

    def system_prompt(self, request: AgentRequest) -> str | None:
        return request.system or self.config.system

    def headers(self, own: Mapping[str, str], key: str | None) -> dict[str, str]:
        """The provider's headers, then the configured ones (a ``{api_key}`` in a value is the key)."""
        merged = dict(own)
        for name, value in self.config.headers.items():
            merged[name] = value.replace("{api_key}", key or "")
        return merged

    def _problem(self, env: Mapping[str, str]) -> tuple[Failed | None, str | None]:
        """(why the agent cannot run, or None; the key)."""
        if self.needs_model and not self.config.model:
            return Failed(f"agent {self.name!r} has no model configured"), None
        if not self.base_url:
            return Failed(f"agent {self.name!r} has no base_url configured"), None
        key = env.get(self.key_env) or None if self.key_env else None
        if self.key_env and key is None:
            return Failed(f"{self.key_env} is not set", "auth"), None
        if self.key_env:
            register(self.key_env, key)
        return None, key

    # -- the agent protocol
    async def run(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        problem, key = self._problem(request.env)
        if problem:
            yield problem
            return
        call = self.build(request, key)
        attempts = self.config.max_attempts
        timeout = httpx.Timeout(connect=CONNECT_TIMEOUT, read=self.config.read_timeout, write=30.0, pool=None)
        text = TextBuffer()  # the answer so far
        for attempt in range(1, attempts + 1):
            log.info("%s: attempt %d/%d: POST %s", self.name, attempt, attempts, redact(call.url, key))
            decoder = self.decoder()
            try:
                async with http_client().stream(
                    "POST", call.url, headers=call.headers, json=call.body, timeout=timeout
                ) as response:
                    if not response.is_success:
                        body = await _read_some(response)
                        raise http_error(self.provider, response.status_code, response.headers, body, self.key_env)
                    async for batch in self._payloads(response):
                        for payload in batch:
                            for event in decoder.feed(payload):
                                if event.__class__ is TextDelta:
                                    text.write(event.text)
                                yield event
                    stop_reason = decoder.finish()
                    if not text:
                        raise AttemptError(
                            f"{self.provider}: empty answer" + (f" ({stop_reason})" if stop_reason else ""), "empty"
                        )
            except AttemptError as exc:
                error = exc
            except httpx.TimeoutException as exc:
                error = _timeout_error(self.provider, exc, self.config.read_timeout)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                error = AttemptError(f"{self.provider}: bad URL {call.url!r}: {one_line(str(exc), 200)}", "error")
            except httpx.TransportError as exc:
                error = AttemptError(
                    f"{self.provider}: connection failed: {one_line(str(exc), 200) or type(exc).__name__}",
                    "connection",
                    retryable=True,
                )
            except httpx.HTTPError as exc:  # e.g. a body that fails its content-encoding
                error = AttemptError(f"{self.provider}: unreadable response: {one_line(str(exc), 200)}", "protocol")
            except (AttributeError, TypeError, KeyError, IndexError) as exc:  # JSON of an unexpected shape
                error = AttemptError(
                    f"{self.provider}: unexpected stream payload ({type(exc).__name__}: {one_line(str(exc), 120)})",
                    "protocol",
                )
            else:
                log.info("%s: finished on attempt %d (%s)", self.name, attempt, stop_reason)
                yield Finished(text.getvalue(), stop_reason)
                return
            message = redact(error.message, key)
            if not error.retryable or text or attempt == attempts:
                after = f" (after {attempt} attempts)" if attempt > 1 else ""
                log.warning("%s: attempt %d/%d failed: %s", self.name, attempt, attempts, message)
                yield Failed(message + after, error.kind)
                return
            delay = self.backoff.delay(attempt, error.retry_after)
            log.warning(
                "%s: attempt %d/%d failed: %s; retrying in %.2f s", self.name, attempt, attempts, message, delay
            )
            yield Retrying(attempt, delay, message)
            await asyncio.sleep(delay)

    def _payloads(self, response: httpx.Response) -> AsyncIterator[list[Any]]:
        if self.framing == "sse":
            return _sse_batches(self.provider, response)
        if self.framing == "lines":
            return _line_batches(response)
        return _text_batches(response)

    async def check(self, env: Mapping[str, str]) -> Usability:
        problem, key = self._problem(env)
        if problem:
            return Usability(False, problem.message)
        method, url, headers = self.probe(key)
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                response = await http_client().request(method, url, headers=headers, timeout=CHECK_TIMEOUT)
        except (TimeoutError, httpx.TimeoutException):
            return Usability(False, f"{url} did not answer within {CHECK_TIMEOUT:g} s")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return Usability(False, redact(f"cannot reach {url}: {one_line(str(exc), 200) or type(exc).__name__}", key))
        if response.status_code in (404, 405) and self.probe_lists:
            return Usability(
                True,
                f"{url}: HTTP {response.status_code}, this server lists no models here; "
                "it answers, so the agent is not called broken (model not checked)",
                checked=False,
            )
        if not response.is_success and not self._answering(response.status_code):
            error = http_error(self.provider, response.status_code, response.headers, response.content, self.key_env)
            return Usability(False, redact(error.message, key))
        reason = self.probe_result(response)
        if reason:
            return Usability(False, redact(reason, key))
        return Usability(True, f"{url} answered (HTTP {response.status_code})")

    def _answering(self, status: int) -> bool:
        """Whether a non-2xx answer to the probe still means the endpoint is usable."""
        return False


def _timeout_error(provider: str, exc: httpx.TimeoutException, read_timeout: float) -> AttemptError:
    if isinstance(exc, httpx.ConnectTimeout):
        return AttemptError(f"{provider}: could not connect within {CONNECT_TIMEOUT:g} s", "connection", retryable=True)
    return AttemptError(f"{provider}: no data for {read_timeout:g} s (read_timeout)", "timeout", retryable=True)


async def _read_some(response: httpx.Response) -> bytes:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= _ERROR_BODY_LIMIT:
            break
    return bytes(data[:_ERROR_BODY_LIMIT])


class _Closed:
    """``response`` as httpx-sse reads it, with a blank line after its last byte.

    A server may end its stream without the blank line that closes the last event (every Anthropic stream
    the official SDK records does, after ``message_stop``); httpx-sse, like the SSE specification, then
    drops that event. A stream that ended cleanly has said all it will, so its last event is read.
    """

    def __init__(self, response: httpx.Response) -> None:
        self.headers = response.headers
        self._response = response

    async def aiter_text(self) -> AsyncIterator[str]:
        async for text in self._response.aiter_text():
            yield text
        yield "\n\n"


async def _sse_batches(provider: str, response: httpx.Response) -> AsyncIterator[list[str]]:
    try:
        async for event in EventSource(_Closed(response)).aiter_sse():  # type: ignore[arg-type]
            if event.data:
                yield [event.data]
    except SSEError:
        content_type = response.headers.get("content-type", "")
        raise AttemptError(
            f"{provider}: expected an event stream, got {content_type or 'no content type'!r}", "protocol"
        ) from None


async def _line_batches(response: httpx.Response) -> AsyncIterator[list[bytes]]:
    """Non-empty lines split on ``\\n`` (a trailing ``\\r`` removed), a batch per network read."""
    tail = b""
    async for chunk in response.aiter_bytes():
        lines = (tail + chunk).split(b"\n") if tail else chunk.split(b"\n")
        tail = lines.pop()
        batch = [line[:-1] if line[-1:] == b"\r" else line for line in lines]
        if any(batch):
            yield [line for line in batch if line]
    if tail.strip():
        yield [tail.rstrip(b"\r")]


async def _text_batches(response: httpx.Response) -> AsyncIterator[list[str]]:
    async for text in response.aiter_text():
        if text:
            yield [text]


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""
